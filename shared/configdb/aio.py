"""The asyncio ConfigDB client: httpx.AsyncClient for data calls, asyncio streams for
snapshot and watch. Same method names and semantics as `ConfigDBClient` (see its
docstrings); every method is a coroutine, iterators are async iterators.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from .errors import ConfigDBUnavailable, KeyNotFound
from .frames import FrameDecoder, encode_frame
from .models import (
    KV,
    Compare,
    Discovery,
    NodeStatus,
    Op,
    Page,
    ServerFrame,
    TxnResult,
    WatchItem,
)
from .protocol import (
    DEFAULT_LIST_LIMIT,
    ClientCore,
    RequestSpec,
    Retry,
    StreamAddress,
    VerifyTypes,
    build_delete,
    build_discovery,
    build_get,
    build_list,
    build_put,
    build_status,
    build_txn,
    describe,
    interpret_response,
    make_ssl_context,
)
from .watch_state import SnapshotInterrupted, SnapshotState, WatchState

T = TypeVar("T")

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_NOT_APPLIED_STATUSES = frozenset({408, 429, 503})
_CONNECT_ERRORS = (OSError, ConfigDBUnavailable)
_READ_SIZE = 256 * 1024


class AsyncConfigDBClient:
    """An asyncio ConfigDB client with failover; see `ConfigDBClient` for the contract
    (endpoints, retries, request ids, errors). Use `async with` or `await aclose()`."""

    def __init__(
        self,
        endpoints: Sequence[str],
        token: str,
        *,
        timeout: float = 5.0,
        retries: int = 8,
        verify: VerifyTypes = True,
        stream_endpoints: Sequence[str] | None = None,
        backoff_base: float = 0.05,
        backoff_max: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._core = ClientCore(
            endpoints,
            token,
            timeout=timeout,
            retries=retries,
            stream_endpoints=stream_endpoints,
            backoff_base=backoff_base,
            backoff_max=backoff_max,
        )
        self._verify = verify
        self._http = httpx.AsyncClient(
            timeout=timeout,
            verify=verify,
            headers={"authorization": f"Bearer {token}"},
            transport=transport,
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoints(self) -> builtins.list[str]:
        return builtins.list(self._core.endpoints)

    @property
    def current_endpoint(self) -> str:
        return self._core.rotation.current

    async def aclose(self) -> None:
        """Close the HTTP connection pool. Open watches keep their own connections."""
        await self._http.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncConfigDBClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ data

    async def get(self, key: str, *, consistent: bool = False) -> KV:
        """See `ConfigDBClient.get`. Raises `KeyNotFound` when absent."""
        return await self._call(build_get(key, consistent=consistent))

    async def get_or_none(self, key: str, *, consistent: bool = False) -> KV | None:
        """Like `get`, but None when the key is absent."""
        try:
            return await self.get(key, consistent=consistent)
        except KeyNotFound:
            return None

    async def put(
        self, key: str, value: Any, *, prev_revision: int | None = None, request_id: str | None = None
    ) -> int:
        """See `ConfigDBClient.put`: returns the commit revision; `CompareFailed` on a
        failed `prev_revision`."""
        return await self._call(build_put(key, value, prev_revision=prev_revision, request_id=request_id))

    async def delete(
        self, key: str, *, prev_revision: int | None = None, request_id: str | None = None
    ) -> int:
        """See `ConfigDBClient.delete`: returns the deletion's revision; `KeyNotFound` when absent."""
        return await self._call(build_delete(key, prev_revision=prev_revision, request_id=request_id))

    async def list(
        self,
        prefix: str,
        *,
        limit: int = DEFAULT_LIST_LIMIT,
        after: str | None = None,
        consistent: bool = False,
    ) -> Page:
        """See `ConfigDBClient.list`: one page ordered by key, `next` to continue."""
        return await self._call(build_list(prefix, limit=limit, after=after, consistent=consistent))

    async def iter_prefix(
        self, prefix: str, *, page_size: int = DEFAULT_LIST_LIMIT, consistent: bool = False
    ) -> AsyncIterator[KV]:
        """Every key under `prefix`, following `next` page by page."""
        after: str | None = None
        while True:
            page = await self.list(prefix, limit=page_size, after=after, consistent=consistent)
            for kv in page.items:
                yield kv
            if page.next is None:
                return
            after = page.next

    async def txn(
        self,
        compare: Sequence[Compare | tuple[str, int]],
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
        *,
        request_id: str | None = None,
    ) -> TxnResult:
        """See `ConfigDBClient.txn`: `TxnResult(succeeded, revision)`."""
        return await self._call(build_txn(compare, success, failure, request_id=request_id))

    async def status(self, endpoint: str | None = None) -> NodeStatus:
        """`/v1/status` of the current node (with failover), or of `endpoint` only."""
        return await self._call(build_status(), endpoint=endpoint)

    async def discovery(self, *, tenant: str | None = None, number: str | None = None) -> Discovery:
        """See `ConfigDBClient.discovery`. Raises `NotFound` for an unknown number."""
        return await self._call(build_discovery(tenant=tenant, number=number))

    # ------------------------------------------------------------------ streams

    async def snapshot(self, prefix: str) -> tuple[builtins.list[KV], int]:
        """See `ConfigDBClient.snapshot`: `(items ordered by key, revision)`."""
        reader = AsyncSnapshotReader(self, prefix, buffered=True)
        items = [kv async for kv in reader]
        assert reader.revision is not None
        return items, reader.revision

    def iter_snapshot(self, prefix: str) -> AsyncSnapshotReader:
        """See `ConfigDBClient.iter_snapshot` (an async iterator; `revision` at the end)."""
        return AsyncSnapshotReader(self, prefix)

    def watch(self, prefix: str, *, from_revision: int | None = None, progress: bool = False) -> AsyncWatch:
        """See `ConfigDBClient.watch` and `Watch`: an async iterator of `WatchEvent`,
        `Resync` and (with `progress=True`) `Progress` items."""
        return AsyncWatch(self, prefix, from_revision=from_revision, progress=progress)

    # ------------------------------------------------------------------ transport

    async def _call(self, spec: RequestSpec[T], endpoint: str | None = None) -> T:
        attempts = self._core.attempts(spec, endpoint)
        while True:
            try:
                resp = await self._http.request(
                    spec.method,
                    attempts.endpoint + spec.path,
                    params=spec.params,
                    content=spec.body,
                    headers=spec.headers,
                )
            except httpx.TransportError as exc:
                delay = attempts.failed(describe(exc), maybe_applied=not isinstance(exc, _NOT_SENT))
            else:
                result = interpret_response(spec, resp.status_code, resp.headers, resp.content)
                if not isinstance(result, Retry):
                    attempts.succeeded()
                    return result
                delay = attempts.failed(
                    result.reason,
                    maybe_applied=result.status not in _NOT_APPLIED_STATUSES,
                    retry_after=result.retry_after,
                    status=result.status,
                )
            if delay > 0:
                await asyncio.sleep(delay)

    async def _stream_address(self, endpoint: str) -> StreamAddress:
        addr = self._core.cached_stream_address(endpoint)
        if addr is None:
            addr = self._core.learn_stream_address(endpoint, await self.status(endpoint))
        return addr

    async def _open_stream(self, endpoint: str, request: dict[str, Any]) -> _FrameStream:
        addr = await self._stream_address(endpoint)
        ssl_ctx = make_ssl_context(self._verify) if addr.tls else None
        async with asyncio.timeout(self._core.timeout):
            reader, writer = await asyncio.open_connection(
                addr.host, addr.port, ssl=ssl_ctx, server_hostname=addr.host if ssl_ctx else None
            )
        try:
            writer.write(encode_frame(request))
            async with asyncio.timeout(self._core.timeout):
                await writer.drain()
        except BaseException:
            writer.close()
            raise
        return _FrameStream(reader, writer, self._core.timeout)


class _FrameStream:
    """An asyncio connection carrying frames. `read()` returns the next node frame,
    None on a clean end of stream; raises OSError (incl. TimeoutError) and ProtocolError."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self._reader = reader
        self._writer = writer
        self._timeout = timeout
        self._decoder = FrameDecoder()
        self._pending: deque[ServerFrame] = deque()

    async def read(self) -> ServerFrame | None:
        while not self._pending:
            async with asyncio.timeout(self._timeout):
                data = await self._reader.read(_READ_SIZE)
            if not data:
                if self._decoder.buffered:
                    raise ConnectionResetError("connection closed in the middle of a frame")
                return None
            self._pending.extend(self._decoder.feed(data))
        return self._pending.popleft()

    def close(self) -> None:
        self._writer.close()


class AsyncWatch(AsyncIterator[WatchItem]):
    """The asyncio form of `Watch` (same items, same resume rules, same errors).

    `async for item in client.watch(prefix): ...`; end it with `await w.aclose()` (safe
    from another task) or `async with client.watch(prefix) as w:`.
    """

    def __init__(
        self, client: AsyncConfigDBClient, prefix: str, *, from_revision: int | None, progress: bool
    ) -> None:
        self._client = client
        self._state = WatchState(prefix, from_revision, emit_progress=progress)
        self._closed = False
        self._wake = asyncio.Event()
        self._conn: _FrameStream | None = None
        self._gen = self._run()

    @property
    def prefix(self) -> str:
        return self._state.prefix

    @property
    def next_revision(self) -> int | None:
        return self._state.next_revision

    @property
    def revision(self) -> int | None:
        return self._state.revision

    @property
    def last_progress_revision(self) -> int | None:
        return self._state.last_progress_revision

    def __aiter__(self) -> AsyncWatch:
        return self

    async def __anext__(self) -> WatchItem:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        """Stop the watch and close its connection."""
        self._closed = True
        self._wake.set()
        if self._conn is not None:
            self._conn.close()
        with contextlib.suppress(RuntimeError):  # running in another task: it stops on its own
            await self._gen.aclose()

    close = aclose

    async def __aenter__(self) -> AsyncWatch:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _sleep(self, delay: float) -> None:
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake.wait()

    async def _run(self) -> AsyncIterator[WatchItem]:
        client, state = self._client, self._state
        attempts = client._core.stream_attempts(f"watch {state.prefix!r}")
        while not self._closed:
            endpoint = attempts.endpoint
            try:
                conn = await client._open_stream(endpoint, state.request(client._core.token))
            except _CONNECT_ERRORS as exc:
                state.on_disconnect()
                client._core.forget_stream_address(endpoint)
                await self._sleep(attempts.failed(describe(exc)))
                continue
            self._conn = conn
            step = None
            try:
                while not self._closed:
                    frame = await conn.read()
                    if frame is None:
                        raise ConnectionResetError("stream closed by the node")
                    step = state.on_frame(frame)
                    if step.healthy:
                        attempts.succeeded()
                    for item in step.items:
                        yield item
                    if step.reconnect:
                        break
            except OSError as exc:
                if self._closed:
                    return
                state.on_disconnect()
                await self._sleep(attempts.failed(describe(exc)))
                continue
            finally:
                self._conn = None
                conn.close()
            if step is not None and step.failure:
                await self._sleep(attempts.failed(step.failure, rotate=step.rotate))


class AsyncSnapshotReader(AsyncIterator[KV]):
    """The asyncio form of `SnapshotReader`: an async iterator of items ordered by key;
    `revision` is set once it is exhausted."""

    def __init__(self, client: AsyncConfigDBClient, prefix: str, *, buffered: bool = False) -> None:
        self._client = client
        SnapshotState(prefix)  # validates the prefix now
        self._prefix = prefix
        self._buffered = buffered
        self.revision: int | None = None
        self._gen = self._run()

    def __aiter__(self) -> AsyncSnapshotReader:
        return self

    async def __anext__(self) -> KV:
        return await self._gen.__anext__()

    async def aclose(self) -> None:
        await self._gen.aclose()

    async def _run(self) -> AsyncIterator[KV]:
        client = self._client
        attempts = client._core.stream_attempts(f"snapshot {self._prefix!r}")
        delivered = 0
        while True:
            state = SnapshotState(self._prefix)
            endpoint = attempts.endpoint
            try:
                conn = await client._open_stream(endpoint, state.request(client._core.token))
            except _CONNECT_ERRORS as exc:
                client._core.forget_stream_address(endpoint)
                await asyncio.sleep(attempts.failed(describe(exc)))
                continue
            pending: builtins.list[KV] = []
            try:
                while not state.done:
                    frame = await conn.read()
                    if frame is None:
                        raise SnapshotInterrupted("stream closed before snapshot_end")
                    items = state.on_frame(frame)
                    if self._buffered:
                        pending.extend(items)
                    else:
                        for kv in items:
                            delivered += 1
                            yield kv
            except (OSError, SnapshotInterrupted) as exc:
                if delivered:
                    raise ConfigDBUnavailable(
                        f"snapshot of {self._prefix!r} interrupted after {delivered} items "
                        f"({describe(exc)}); take it again",
                        attempts=attempts.total + 1,
                        last_error=describe(exc),
                    ) from exc
                await asyncio.sleep(attempts.failed(describe(exc)))
                continue
            finally:
                conn.close()
            self.revision = state.revision
            for kv in pending:
                yield kv
            return


__all__ = ["AsyncConfigDBClient", "AsyncSnapshotReader", "AsyncWatch"]
