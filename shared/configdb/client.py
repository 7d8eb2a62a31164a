"""The synchronous ConfigDB client: httpx.Client for data calls, blocking sockets for
snapshot and watch streams. The logic lives in the pure modules (`protocol`,
`frames`, `watch_state`); this module only moves bytes and sleeps.
"""

from __future__ import annotations

import builtins
import contextlib
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
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
_RECV_SIZE = 256 * 1024


class ConfigDBClient:
    """A synchronous ConfigDB client with failover across the nodes of one shard.

    `endpoints` are the nodes' HTTP base URLs (`http://host:port`). Requests stick to
    one endpoint until it fails (connection error, timeout, 5xx, 408/429), then move to
    the next, backing off once every endpoint failed; after `retries + 1` failed
    attempts a call raises `ConfigDBUnavailable`. 4xx answers are never retried.

    Streams (snapshot, watch) connect to `stream_endpoints` (`host:port`,
    `tcp://host:port` or `tls://host:port`) when given, else to the stream address each
    node advertises in `/v1/status`.

    Writes carry a `request_id` (a fresh uuid4 per call unless given), so a retry after
    an unknown outcome (timeout, 504) is applied once and answered with the first result.

    The client is thread-safe for data calls; a `Watch` or a `SnapshotReader` belongs
    to the thread iterating it. Close the client (or use it as a context manager).
    """

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
        transport: httpx.BaseTransport | None = None,
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
        self._http = httpx.Client(
            timeout=timeout,
            verify=verify,
            headers={"authorization": f"Bearer {token}"},
            transport=transport,
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def endpoints(self) -> builtins.list[str]:
        """The HTTP endpoints, in rotation order."""
        return builtins.list(self._core.endpoints)

    @property
    def current_endpoint(self) -> str:
        """The endpoint the next request goes to first."""
        return self._core.rotation.current

    def close(self) -> None:
        """Close the HTTP connection pool. Open watches keep their own sockets."""
        self._http.close()

    def __enter__(self) -> ConfigDBClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ data

    def get(self, key: str, *, consistent: bool = False) -> KV:
        """Read one key: its value and the revision of its last modification.

        `consistent=True` makes a linearizable read (the node confirms with the leader);
        otherwise the node answers from its local state, which may lag.
        Raises `KeyNotFound` when absent, `InvalidRequest` for a bad key,
        `ConfigDBUnavailable` when no node answers.
        """
        return self._call(build_get(key, consistent=consistent))

    def get_or_none(self, key: str, *, consistent: bool = False) -> KV | None:
        """Like `get`, but None when the key is absent."""
        try:
            return self.get(key, consistent=consistent)
        except KeyNotFound:
            return None

    def put(
        self, key: str, value: Any, *, prev_revision: int | None = None, request_id: str | None = None
    ) -> int:
        """Set `key` to the JSON value `value`; return the revision the change committed at.

        `prev_revision` makes it a compare-and-set: it applies only if the key's current
        revision equals it (0 = the key must be absent), else `CompareFailed` carries the
        current revision. Raises `InvalidRequest` for a bad key or a value that is not JSON
        or exceeds 1 MiB, `ConfigDBUnavailable` (with `outcome_unknown`) when no node
        answered; retrying with the same `request_id` then applies it at most once.
        """
        return self._call(build_put(key, value, prev_revision=prev_revision, request_id=request_id))

    def delete(self, key: str, *, prev_revision: int | None = None, request_id: str | None = None) -> int:
        """Delete `key`; return the revision of the deletion.

        Raises `KeyNotFound` when absent, `CompareFailed` when `prev_revision` does not
        match, `ConfigDBUnavailable` as for `put` (same `request_id` semantics).
        """
        return self._call(build_delete(key, prev_revision=prev_revision, request_id=request_id))

    def list(
        self,
        prefix: str,
        *,
        limit: int = DEFAULT_LIST_LIMIT,
        after: str | None = None,
        consistent: bool = False,
    ) -> Page:
        """One page of the keys starting with `prefix` ("" = all), ordered by key.

        `after` (exclusive) continues from a previous page's `next`; `limit` is 1..10000.
        The page's `revision` is the store revision it was read at. Raises
        `InvalidRequest`, `ConfigDBUnavailable`.
        """
        return self._call(build_list(prefix, limit=limit, after=after, consistent=consistent))

    def iter_prefix(
        self, prefix: str, *, page_size: int = DEFAULT_LIST_LIMIT, consistent: bool = False
    ) -> Iterator[KV]:
        """Every key under `prefix`, page by page (following `next`). Pages may be read at
        different revisions; use `snapshot` for one consistent image."""
        after: str | None = None
        while True:
            page = self.list(prefix, limit=page_size, after=after, consistent=consistent)
            yield from page.items
            if page.next is None:
                return
            after = page.next

    def txn(
        self,
        compare: Sequence[Compare | tuple[str, int]],
        success: Sequence[Op] = (),
        failure: Sequence[Op] = (),
        *,
        request_id: str | None = None,
    ) -> TxnResult:
        """Run a multi-key transaction atomically.

        If every `Compare(key, revision)` holds (revision 0 = absent), the `success` ops
        run, else the `failure` ops; all of the chosen branch commits at one revision.
        Returns `TxnResult(succeeded, revision)`: the new revision when the branch changed
        something, else the current one. A failed compare is not an error. Raises
        `InvalidRequest`, `ConfigDBUnavailable` (same `request_id` semantics as `put`).
        """
        return self._call(build_txn(compare, success, failure, request_id=request_id))

    def status(self, endpoint: str | None = None) -> NodeStatus:
        """`/v1/status` of the current node (with failover), or of `endpoint` only (one
        attempt). Raises `ConfigDBUnavailable` when unreachable."""
        return self._call(build_status(), endpoint=endpoint)

    def discovery(self, *, tenant: str | None = None, number: str | None = None) -> Discovery:
        """Where a tenant or an E.164 number lives (give exactly one). Raises `NotFound`
        for an unknown number, `InvalidRequest`, `ConfigDBUnavailable`."""
        return self._call(build_discovery(tenant=tenant, number=number))

    # ------------------------------------------------------------------ streams

    def snapshot(self, prefix: str) -> tuple[builtins.list[KV], int]:
        """A consistent image of every key under `prefix`: `(items ordered by key, revision)`.

        The image reflects exactly `revision`: watch from `revision + 1` to follow it. An
        interrupted transfer is started again on another node (bounded attempts). Raises
        `Unauthorized`, `InvalidRequest`, `ProtocolError`, `ConfigDBUnavailable`.
        """
        reader = SnapshotReader(self, prefix, buffered=True)
        items = builtins.list(reader)
        assert reader.revision is not None
        return items, reader.revision

    def iter_snapshot(self, prefix: str) -> SnapshotReader:
        """Stream a consistent image of `prefix` item by item; `reader.revision` is set
        once it is exhausted. A transfer interrupted after the first item raises
        `ConfigDBUnavailable` (the items seen so far belong to an unfinished image)."""
        return SnapshotReader(self, prefix)

    def watch(self, prefix: str, *, from_revision: int | None = None, progress: bool = False) -> Watch:
        """Follow every change under `prefix`; see `Watch` for what it yields.

        With `from_revision`, delivers every change with revision >= from_revision;
        without, first yields `Resync(reason="initial")` with the current image, then
        the changes after it. Resumes across disconnects and node failures on its own.
        """
        return Watch(self, prefix, from_revision=from_revision, progress=progress)

    # ------------------------------------------------------------------ transport

    def _call(self, spec: RequestSpec[T], endpoint: str | None = None) -> T:
        attempts = self._core.attempts(spec, endpoint)
        while True:
            try:
                resp = self._http.request(
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
                time.sleep(delay)

    def _stream_address(self, endpoint: str) -> StreamAddress:
        addr = self._core.cached_stream_address(endpoint)
        if addr is None:
            addr = self._core.learn_stream_address(endpoint, self.status(endpoint))
        return addr

    def _open_stream(self, endpoint: str, request: dict[str, Any]) -> _FrameSocket:
        """Connect to a stream endpoint and send the request frame. Raises OSError or
        ConfigDBUnavailable (status lookup) when the node is unreachable."""
        addr = self._stream_address(endpoint)
        sock = socket.create_connection((addr.host, addr.port), timeout=self._core.timeout)
        try:
            if addr.tls:
                sock = make_ssl_context(self._verify).wrap_socket(sock, server_hostname=addr.host)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(encode_frame(request))
        except BaseException:
            sock.close()
            raise
        return _FrameSocket(sock)


_CONNECT_ERRORS = (OSError, ConfigDBUnavailable)


class _FrameSocket:
    """A blocking socket carrying frames. `read()` returns the next node frame, None on
    a clean end of stream; raises OSError (incl. timeouts) and ProtocolError."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._decoder = FrameDecoder()
        self._pending: deque[ServerFrame] = deque()

    def read(self) -> ServerFrame | None:
        while not self._pending:
            data = self._sock.recv(_RECV_SIZE)
            if not data:
                if self._decoder.buffered:
                    raise ConnectionResetError("connection closed in the middle of a frame")
                return None
            self._pending.extend(self._decoder.feed(data))
        return self._pending.popleft()

    def shutdown(self) -> None:
        """Wake a read blocked in another thread (it sees the end of the stream)."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._sock.close()


class Watch(Iterator[WatchItem]):
    """An iterator over the changes under a prefix that resumes on its own.

    Yields, in revision order, with no gap and no duplicate:

    * `WatchEvent(revision, type, key, value)` for each committed change (all keys of
      one transaction share a revision);
    * `Resync(items, revision, reason)`: replace your whole view of the prefix with
      `items`; events that follow are above `revision`. First item when started without
      `from_revision` (`reason="initial"`), and again whenever the node answered
      `compacted` (`reason="compacted"`: the missed changes are no longer retained);
    * `Progress(revision)` on idle progress frames, only when asked with `progress=True`.

    On a disconnect, a node failure, a read timeout (no frame, not even the 0.5 s
    progress, within the client timeout) or a `closed` frame, it reconnects (to the
    next node when the current one failed) and watches from `next_revision`. It raises
    `ConfigDBUnavailable` after `retries + 1` consecutive failed reconnections,
    `Unauthorized` / `InvalidRequest` when a node refuses the request and
    `ProtocolError` on a malformed frame. `close()` (from any thread) ends it.
    """

    def __init__(
        self, client: ConfigDBClient, prefix: str, *, from_revision: int | None, progress: bool
    ) -> None:
        self._client = client
        self._state = WatchState(prefix, from_revision, emit_progress=progress)
        self._closed = False
        self._wake = threading.Event()
        self._conn: _FrameSocket | None = None
        self._gen = self._run()

    @property
    def prefix(self) -> str:
        return self._state.prefix

    @property
    def next_revision(self) -> int | None:
        """The lowest revision the next event can have (last delivered + 1)."""
        return self._state.next_revision

    @property
    def revision(self) -> int | None:
        """The revision the delivered items bring the caller's view to."""
        return self._state.revision

    @property
    def last_progress_revision(self) -> int | None:
        """The revision of the last idle `progress` frame (as seen by the caller's view)."""
        return self._state.last_progress_revision

    def __iter__(self) -> Watch:
        return self

    def __next__(self) -> WatchItem:
        return next(self._gen)

    def close(self) -> None:
        """Stop the watch and close its connection. Safe from another thread."""
        self._closed = True
        self._wake.set()
        conn = self._conn
        if conn is not None:
            conn.shutdown()
        with contextlib.suppress(ValueError):  # running in another thread: it stops at its next read
            self._gen.close()

    def __enter__(self) -> Watch:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _sleep(self, delay: float) -> None:
        if delay > 0:
            self._wake.wait(delay)

    def _run(self) -> Iterator[WatchItem]:
        client, state = self._client, self._state
        attempts = client._core.stream_attempts(f"watch {state.prefix!r}")
        while not self._closed:
            endpoint = attempts.endpoint
            try:
                conn = client._open_stream(endpoint, state.request(client._core.token))
            except _CONNECT_ERRORS as exc:
                state.on_disconnect()
                client._core.forget_stream_address(endpoint)
                self._sleep(attempts.failed(describe(exc)))
                continue
            self._conn = conn
            step = None
            try:
                while not self._closed:
                    frame = conn.read()
                    if frame is None:
                        raise ConnectionResetError("stream closed by the node")
                    step = state.on_frame(frame)
                    if step.healthy:
                        attempts.succeeded()
                    yield from step.items
                    if step.reconnect:
                        break
            except OSError as exc:
                if self._closed:
                    return
                state.on_disconnect()
                self._sleep(attempts.failed(describe(exc)))
                continue
            finally:
                self._conn = None
                conn.close()
            if step is not None and step.failure:
                self._sleep(attempts.failed(step.failure, rotate=step.rotate))


class SnapshotReader(Iterator[KV]):
    """Iterates over a consistent image of a prefix, ordered by key; `revision` is set
    once the iterator is exhausted (the image reflects exactly that revision).

    Connection failures before the first item are retried on other nodes (bounded).
    `buffered=True` (what `snapshot()` uses) holds the items until the image is
    complete, so an interruption at any point restarts it cleanly; otherwise an
    interruption after the first item raises `ConfigDBUnavailable`.
    """

    def __init__(self, client: ConfigDBClient, prefix: str, *, buffered: bool = False) -> None:
        self._client = client
        SnapshotState(prefix)  # validates the prefix now
        self._prefix = prefix
        self._buffered = buffered
        self.revision: int | None = None
        self._gen = self._run()

    def __iter__(self) -> SnapshotReader:
        return self

    def __next__(self) -> KV:
        return next(self._gen)

    def close(self) -> None:
        self._gen.close()

    def _run(self) -> Iterator[KV]:
        client = self._client
        attempts = client._core.stream_attempts(f"snapshot {self._prefix!r}")
        delivered = 0
        while True:
            state = SnapshotState(self._prefix)
            endpoint = attempts.endpoint
            try:
                conn = client._open_stream(endpoint, state.request(client._core.token))
            except _CONNECT_ERRORS as exc:
                client._core.forget_stream_address(endpoint)
                time.sleep(attempts.failed(describe(exc)))
                continue
            pending: builtins.list[KV] = []
            try:
                while not state.done:
                    frame = conn.read()
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
                time.sleep(attempts.failed(describe(exc)))
                continue
            finally:
                conn.close()
            self.revision = state.revision
            yield from pending
            return


__all__ = ["ConfigDBClient", "SnapshotReader", "Watch"]
