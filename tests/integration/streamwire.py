"""A bare stream-port client for tests: frames in, frames out, nothing clever."""

from __future__ import annotations

import socket
import struct
from typing import Any

import orjson

_LEN = struct.Struct(">I")


class StreamConn:
    def __init__(self, port: int, request: dict[str, Any], timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        body = orjson.dumps(request)
        self.sock.sendall(_LEN.pack(len(body)) + body)

    def _exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("closed")
            buf += chunk
        return buf

    def frame(self) -> dict[str, Any]:
        (size,) = _LEN.unpack(self._exact(4))
        return orjson.loads(self._exact(size))

    def close(self) -> None:
        self.sock.close()
