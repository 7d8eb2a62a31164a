"""Asyncio TCP between Raft peers.

Each node dials every peer once and keeps that connection for its outgoing messages;
it accepts the peers' connections for incoming ones. A connection starts with a hello
frame {node_id, raft, http, stream, token}, where the token is the peers' own credential
(never a client token); frames are a 4-byte big-endian length and a msgpack body (see
codec.py). With TLS (`use_tls`) the port speaks only TLS and a dialling peer verifies the
listener's certificate before it sends its hello. Sending never blocks: Raft tolerates loss, so a message
for an unreachable or backed-up peer is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import ssl
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgpack

from .codec import decode_message, encode_message
from .types import Message

log = logging.getLogger("configdb.raft.transport")
_LEN = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
MAX_BUFFER = 64 * 1024 * 1024
# A dialed connection whose sent data stays unacknowledged this long is dropped and dialed
# again: otherwise, after a network fault, its messages wait for TCP's backed-off
# retransmission (many seconds) long after the path is back. Heartbeats keep data in flight,
# so on a healthy link acknowledgements never lag this much.
UNACKED_TIMEOUT_MS = 2000
CONNECT_TIMEOUT = 1.0


@dataclass
class PeerInfo:
    raft: str
    node_id: str | None = None
    http: str | None = None
    stream: str | None = None
    last_heard: float = 0.0
    writer: asyncio.StreamWriter | None = None
    connected: bool = field(default=False)

    def reachable(self, now: float, window: float = 1.5) -> bool:
        return self.connected and now - self.last_heard < window


async def read_frame(reader: asyncio.StreamReader, limit: int) -> bytes:
    (size,) = _LEN.unpack(await reader.readexactly(4))
    if size > limit:
        raise ValueError(f"frame of {size} bytes exceeds {limit}")
    return await reader.readexactly(size)


def frame(body: bytes) -> bytes:
    return _LEN.pack(len(body)) + body


class Transport:
    def __init__(
        self,
        self_raft: str,
        peers: list[str],
        hello: dict[str, str],
        token: str,
        deliver: Callable[[Message], None],
    ) -> None:
        self.self_raft = self_raft
        self.peers = {p: PeerInfo(raft=p) for p in peers}
        self.hello = hello
        self.token = token
        self.deliver = deliver
        self._server: asyncio.Server | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._tls_server: ssl.SSLContext | None = None
        self._tls_client: ssl.SSLContext | None = None

    def use_tls(self, server: ssl.SSLContext, client: ssl.SSLContext) -> None:
        """Serve the raft port over TLS and dial peers over TLS (verified by `client`); before start."""
        self._tls_server, self._tls_client = server, client

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port, ssl=self._tls_server)
        for peer in self.peers.values():
            self._tasks.append(asyncio.create_task(self._dial(peer)))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self._server:
            self._server.close()
        for peer in self.peers.values():
            if peer.writer:
                peer.writer.close()

    def send(self, msg: Message) -> None:
        peer = self.peers.get(msg.to)
        if peer is None or peer.writer is None or not peer.connected:
            return
        transport = peer.writer.transport
        # Closed under us (reset, unacknowledged-data timeout) before the dialing task noticed:
        # uvloop raises on a write to a closed transport. Drop the message like any other loss.
        if transport.is_closing() or transport.get_write_buffer_size() > MAX_BUFFER:
            return
        peer.writer.write(frame(encode_message(msg)))

    async def _dial(self, peer: PeerInfo) -> None:
        host, port = peer.raft.rsplit(":", 1)
        delay = 0.05
        while True:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        host,
                        int(port),
                        ssl=self._tls_client,
                        server_hostname=host if self._tls_client is not None else None,
                    ),
                    CONNECT_TIMEOUT,
                )
                sock = writer.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, UNACKED_TIMEOUT_MS)
                writer.write(frame(msgpack.packb({**self.hello, "token": self.token})))
                await writer.drain()
                peer.writer, peer.connected = writer, True
                delay = 0.05
                # The peer never writes on this connection; EOF means it went away.
                await reader.read()
            except (OSError, asyncio.IncompleteReadError) as exc:
                if isinstance(exc, ssl.SSLError):
                    log.warning("raft peer %s: TLS failed: %s", peer.raft, exc)
            finally:
                peer.connected = False
                if peer.writer is not None:
                    peer.writer.close()
                    peer.writer = None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hello = msgpack.unpackb(await asyncio.wait_for(read_frame(reader, 64 * 1024), 5))
            if not isinstance(hello, dict) or not hmac.compare_digest(
                str(hello.get("token", "")), self.token
            ):
                log.warning("raft peer refused: bad token")
                return
            peer = self.peers.get(str(hello.get("raft")))
            if peer is None:
                log.warning("raft peer refused: unknown member %s", hello.get("raft"))
                return
            peer.node_id, peer.http, peer.stream = (
                hello.get("node_id"),
                hello.get("http"),
                hello.get("stream"),
            )
            while True:
                body = await read_frame(reader, MAX_FRAME)
                peer.last_heard = time.monotonic()
                msg = decode_message(body)
                if msg.frm != peer.raft:
                    raise ValueError("message sender does not match the connection")
                self.deliver(msg)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            if not isinstance(exc, asyncio.IncompleteReadError):
                log.info("raft connection closed: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
