"""Stream-port framing: a 4-byte big-endian length, then that many bytes of UTF-8 JSON
holding one object. Pure: no sockets here.

Client frames are at most `MAX_CLIENT_FRAME` (64 KiB) bytes of payload, node frames at
most `MAX_SERVER_FRAME` (16 MiB). Anything else is a `ProtocolError`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from .errors import ProtocolError
from .models import ServerFrame

HEADER = struct.Struct(">I")
HEADER_SIZE = HEADER.size
MAX_CLIENT_FRAME = 64 * 1024
MAX_SERVER_FRAME = 16 * 1024 * 1024

_SERVER_FRAME: TypeAdapter[ServerFrame] = TypeAdapter(ServerFrame)


def encode_frame(obj: Mapping[str, Any], *, max_size: int = MAX_CLIENT_FRAME) -> bytes:
    """Encode one JSON object as a frame. Raises `ProtocolError` if it cannot be
    encoded or its payload exceeds `max_size` bytes."""
    try:
        payload = orjson.dumps(obj)
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise ProtocolError(f"frame is not JSON-encodable: {exc}") from exc
    if len(payload) > max_size:
        raise ProtocolError(f"frame of {len(payload)} bytes exceeds the {max_size}-byte limit")
    return HEADER.pack(len(payload)) + payload


def decode_payload(payload: bytes) -> dict[str, Any]:
    """Decode one frame's payload into a JSON object. Raises `ProtocolError` on invalid
    UTF-8, invalid JSON or a value that is not an object."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"malformed frame: invalid JSON ({exc})") from exc
    if not isinstance(obj, dict):
        raise ProtocolError(f"malformed frame: expected a JSON object, got {type(obj).__name__}")
    return obj


def parse_server_frame(obj: Mapping[str, Any]) -> ServerFrame:
    """Validate a decoded node frame into its model. Raises `ProtocolError` on an unknown
    `type` or missing / mistyped fields."""
    try:
        return _SERVER_FRAME.validate_python(obj)
    except ValidationError as exc:
        kind = obj.get("type") if isinstance(obj, Mapping) else None
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ProtocolError(f"malformed {kind!r} frame: {where}: {first.get('msg', 'invalid')}") from exc


class FrameDecoder:
    """Incremental decoder: `feed(bytes)` returns the complete frames received so far.

    Raises `ProtocolError` as soon as a header announces more than `max_size` bytes
    (without waiting for them) or a complete payload is malformed. After a
    `ProtocolError` the decoder is unusable (the connection must be closed).
    """

    def __init__(self, *, max_size: int = MAX_SERVER_FRAME, parse: bool = True) -> None:
        self._buf = bytearray()
        self._max = max_size
        self._parse = parse

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[Any]:
        """Add received bytes; return the frames completed by them, in order: parsed
        `ServerFrame` models, or plain dicts when built with `parse=False`."""
        self._buf += data
        out: list[Any] = []
        while len(self._buf) >= HEADER_SIZE:
            (length,) = HEADER.unpack_from(self._buf)
            if length > self._max:
                raise ProtocolError(f"frame of {length} bytes exceeds the {self._max}-byte limit")
            end = HEADER_SIZE + length
            if len(self._buf) < end:
                break
            obj = decode_payload(bytes(self._buf[HEADER_SIZE:end]))
            del self._buf[:end]
            out.append(parse_server_frame(obj) if self._parse else obj)
        return out
