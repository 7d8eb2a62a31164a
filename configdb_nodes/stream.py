"""The TCP stream port: snapshots and update listening (docs/configdb-protocol.md).

Frames are a 4-byte big-endian length and one UTF-8 JSON object. The first client frame
is the request; everything after is the node talking. A watch catches up from the
stored history, then registers a live listener without yielding to the event loop in
between, so no revision can slip past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.configdb.frames import HEADER as _LEN
from shared.configdb.frames import MAX_CLIENT_FRAME, MAX_SERVER_FRAME
from shared.configdb.frames import encode_frame as _encode

from .auth import TokenTable
from .keys import InvalidKey, validate_prefix
from .node import Node
from .storage import Event
from .watch import Listener

log = logging.getLogger("configdb.stream")
SNAPSHOT_FRAME_BYTES = 1024 * 1024  # a snapshot frame ends before the item that would pass this
HISTORY_CHUNK = 500
PROGRESS_SECONDS = 0.5


class StreamRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str
    op: Literal["watch", "snapshot"]
    prefix: str = ""
    from_revision: int | None = Field(default=None, ge=1)
    watch: bool = False


class Closed(Exception):
    pass


def encode_frame(obj: Any) -> bytes:
    return _encode(obj, max_size=MAX_SERVER_FRAME)


FRAME_TARGET = 1024 * 1024  # start a new frame past this; one revision is never split


def _events_frames(batch: list[tuple[int, list[Event]]]) -> bytes:
    """`events` frames for the batch; values are spliced in as the raw JSON they are stored as."""
    out: list[bytes] = []
    parts: list[bytes] = []
    size = 0
    for rev, events in batch:
        r = str(rev).encode()
        for typ, key, value in events:
            part = (
                b'{"revision":'
                + r
                + b',"type":"'
                + typ.encode()
                + b'","key":'
                + orjson.dumps(key)
                + b',"value":'
                + (value if value is not None else b"null")
                + b"}"
            )
            parts.append(part)
            size += len(part)
        if size >= FRAME_TARGET:
            out.append(_wrap_events(parts))
            parts, size = [], 0
    if parts:
        out.append(_wrap_events(parts))
    return b"".join(out)


def _wrap_events(parts: list[bytes]) -> bytes:
    body = b'{"type":"events","events":[' + b",".join(parts) + b"]}"
    return _LEN.pack(len(body)) + body


class StreamServer:
    def __init__(self, node: Node, tokens: TokenTable) -> None:
        self.node = node
        self.tokens = tokens
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int, ssl: Any = None) -> None:
        self._server = await asyncio.start_server(self._serve, host, port, ssl=ssl)

    async def stop(self) -> None:
        if self._server:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            req = await self._read_request(reader, writer)
            if req is None:
                return
            prefix = req.prefix
            if req.op == "snapshot":
                revision = await self._snapshot(writer, prefix)
                if not req.watch:
                    return
                await self._watch(reader, writer, prefix, revision + 1)
            else:
                start = (
                    req.from_revision if req.from_revision is not None else self.node.store.meta.revision + 1
                )
                await self._watch(reader, writer, prefix, start)
        except (ConnectionError, asyncio.IncompleteReadError, Closed):
            pass
        except Exception:
            log.exception("stream connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> StreamRequest | None:
        try:
            (size,) = _LEN.unpack(await asyncio.wait_for(reader.readexactly(4), 10))
            if size > MAX_CLIENT_FRAME:
                raise ValueError(f"request frame of {size} bytes exceeds {MAX_CLIENT_FRAME}")
            body = await asyncio.wait_for(reader.readexactly(size), 10)
            raw = orjson.loads(body)
        except (TimeoutError, ValueError, orjson.JSONDecodeError) as exc:
            await self._error(writer, 400, "Malformed frame", str(exc) or "timed out")
            return None
        scope = self.tokens.lookup(str(raw.get("token", ""))) if isinstance(raw, dict) else None
        if scope is None:
            await self._error(writer, 401, "Unauthorized", "missing or wrong token")
            return None
        try:
            req = StreamRequest.model_validate(raw)
            validate_prefix(req.prefix)
        except (ValidationError, InvalidKey) as exc:
            await self._error(writer, 400, "Invalid request", str(exc).splitlines()[0])
            return None
        if not scope.may_read(req.prefix):
            await self._error(writer, 403, "Forbidden", f"{scope.describe()} may not read {req.prefix!r}")
            return None
        return req

    async def _error(self, writer: asyncio.StreamWriter, status: int, title: str, detail: str) -> None:
        writer.write(encode_frame({"type": "error", "status": status, "title": title, "detail": detail}))
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def _snapshot(self, writer: asyncio.StreamWriter, prefix: str) -> int:
        store = self.node.store
        snap = store.snapshot()
        revision = store.meta.revision  # taken together with the LevelDB snapshot: no await between
        # Frames are cut by bytes, not by item count: a frame holds items up to
        # SNAPSHOT_FRAME_BYTES, or one item when that item alone is larger (a value is at most
        # 1 MiB), so no frame nears the clients' MAX_SERVER_FRAME however large the tenants.
        chunk: list[bytes] = []
        size = 0
        for key, value, rev in store.scan(prefix.encode(), snapshot=snap):
            item = (
                b'{"key":'
                + orjson.dumps(key.decode())
                + b',"value":'
                + value
                + b',"revision":'
                + str(rev).encode()
                + b"}"
            )
            if chunk and size + len(item) + 1 > SNAPSHOT_FRAME_BYTES:
                await self._send_items(writer, chunk)
                chunk, size = [], 0
            chunk.append(item)
            size += len(item) + 1
        if chunk:
            await self._send_items(writer, chunk)
        writer.write(encode_frame({"type": "snapshot_end", "revision": revision}))
        await writer.drain()
        return revision

    @staticmethod
    async def _send_items(writer: asyncio.StreamWriter, chunk: list[bytes]) -> None:
        body = b'{"type":"snapshot","items":[' + b",".join(chunk) + b"]}"
        writer.write(_LEN.pack(len(body)) + body)
        await writer.drain()

    async def _watch(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, prefix: str, next_rev: int
    ) -> None:
        store = self.node.store
        # Catch up from history until we hold the current revision, then register at once.
        while True:
            if next_rev <= store.meta.compact_revision:
                writer.write(
                    encode_frame(
                        {
                            "type": "compacted",
                            "compact_revision": store.meta.compact_revision,
                            "revision": store.meta.revision,
                        }
                    )
                )
                await writer.drain()
                return
            current = store.meta.revision
            if next_rev > current:
                break
            upto = min(current, next_rev + HISTORY_CHUNK - 1)
            batch = [
                (rev, [e for e in evs if e[1].startswith(prefix)])
                for rev, evs in store.history(next_rev, upto)
            ]
            batch = [(rev, evs) for rev, evs in batch if evs]
            next_rev = upto + 1
            if batch:
                writer.write(_events_frames(batch))
                await writer.drain()
        listener = self.node.hub.register(prefix)
        eof = asyncio.ensure_future(reader.read(1))  # the client never speaks again; EOF = gone
        try:
            await self._follow(writer, listener, next_rev, eof)
        finally:
            self.node.hub.unregister(listener)
            eof.cancel()

    async def _follow(
        self, writer: asyncio.StreamWriter, listener: Listener, next_rev: int, eof: asyncio.Future[bytes]
    ) -> None:
        queue = listener.queue
        while True:
            getter = asyncio.ensure_future(queue.get())
            overflow = asyncio.ensure_future(listener.wake.wait())
            done, _ = await asyncio.wait(
                {getter, overflow, eof}, timeout=PROGRESS_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            overflow.cancel()
            if getter not in done:
                getter.cancel()
            if eof in done:
                return
            if listener.overflowed:
                writer.write(encode_frame({"type": "closed", "reason": "slow listener"}))
                await writer.drain()
                return
            if getter in done:
                batch = [getter.result()]
                while not queue.empty():
                    batch.append(queue.get_nowait())
                batch = [(rev, evs) for rev, evs in batch if rev >= next_rev]
                if batch:
                    next_rev = batch[-1][0] + 1
                    writer.write(_events_frames(batch))
                    await writer.drain()
            else:
                writer.write(
                    encode_frame(
                        {"type": "progress", "revision": max(self.node.store.meta.revision, next_rev - 1)}
                    )
                )
                await writer.drain()
