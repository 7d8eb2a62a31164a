"""The API's per-process read cache of tenant documents (`t/`), fed by a ConfigDB watch.

    cache = TenantCache(db)           # follows `t/` from its first use, in the background
    repo = CachedRepo(db, cache)      # a ConfigRepo whose safe reads come from the cache

One snapshot-and-watch stream of `t/` (the edge's `sip_edge/config_sync.py` does the same)
keeps every tenant's documents in memory, each with its revision. `CachedRepo` answers `get`,
`require`, `raw`, `list` and the scans of one tenant's keys from it, under three conditions:

- the request is a read (`GET`/`HEAD`: `CacheReads` marks it): a write's own reads (the
  document it checks and the revision it compares) always go to the ConfigDB, so a request that
  changes something never decides on a cached copy;
- the watch is live: the snapshot is loaded and the node was heard (an event, or its progress
  frame every 0.5 s) within `MAX_SILENCE_S`. Otherwise reads go to the ConfigDB directly, so a
  cache whose watch is down never serves stale data beyond the watch latency;
- the cache has applied every write this process made (read-your-writes): each write through the
  repo records its revision, and a later read waits, at most `CATCH_UP_S`, for the watch to
  reach it, else reads directly. A write through another process is visible here once its
  event arrives (the watch latency, a few milliseconds).

Keys outside `t/{tenant}/` (the global indexes) are always read from the ConfigDB.

A document is validated into its model once per revision: later reads of the same revision get
the same `Versioned` object, so callers must not change a document they read in place (the
services make changed copies with `model_copy`).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.adapters.config_repo import ConfigRepo
from shared.configdb import (
    KV,
    AsyncConfigDBClient,
    InvalidRequest,
    Progress,
    Resync,
    Unauthorized,
    WatchEvent,
)
from shared.documents import Versioned
from shared.logs import log_event

log = logging.getLogger("api.read_cache")

PREFIX = "t/"
# The node sends a progress frame every 0.5 s on an idle watch: silence for longer than this
# means the watch is down (or the loop starved), and reads go to the ConfigDB.
MAX_SILENCE_S = 2.0
# How long a read waits for the watch to apply this process's own last write.
CATCH_UP_S = 1.0

M = TypeVar("M", bound=BaseModel)

_cache_reads: contextvars.ContextVar[bool] = contextvars.ContextVar("api_cache_reads", default=False)


class CacheReads:
    """ASGI middleware: marks `GET` and `HEAD` requests as ones whose reads may use the cache."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            token = _cache_reads.set(True)
            try:
                await self.app(scope, receive, send)
            finally:
                _cache_reads.reset(token)
        else:
            await self.app(scope, receive, send)


def _tenant_of(key: str) -> str | None:
    """`t/{tid}/...` -> tid; None for a key or prefix that names no single tenant."""
    if not key.startswith(PREFIX):
        return None
    end = key.find("/", 2)
    return key[2:end] if end > 2 else None


class TenantCache:
    """Every key under `t/`, per tenant, as of `revision` (see the module docstring)."""

    def __init__(
        self,
        db: AsyncConfigDBClient,
        *,
        max_silence: float = MAX_SILENCE_S,
        backoff: tuple[float, float] = (0.2, 5.0),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.max_silence = max_silence
        self._backoff = backoff
        self._monotonic = monotonic
        self.tenants: dict[str, dict[str, KV]] = {}
        self._order: dict[str, list[str]] = {}  # tenant -> its keys sorted, made on demand
        self.revision = 0
        self.ready = False
        self.error: BaseException | None = None
        self._heard = 0.0
        self._task: asyncio.Task[None] | None = None
        self._advanced = asyncio.Event()
        self._stopped = False

    # ------------------------------------------------------------------ state

    def live(self) -> bool:
        """The snapshot is loaded and the watch was heard within `max_silence` seconds."""
        return self.ready and self._monotonic() - self._heard <= self.max_silence

    def get(self, key: str) -> KV | None:
        tid = _tenant_of(key)
        docs = self.tenants.get(tid) if tid is not None else None
        return None if docs is None else docs.get(key)

    def under(self, prefix: str) -> list[KV]:
        """The keys under `prefix` (inside one tenant), in key order like a ConfigDB range."""
        tid = _tenant_of(prefix)
        docs = self.tenants.get(tid) if tid is not None else None
        if tid is None or not docs:
            return []
        order = self._order.get(tid)
        if order is None:
            order = self._order[tid] = sorted(docs)
        out = []
        for i in range(bisect.bisect_left(order, prefix), len(order)):
            key = order[i]
            if not key.startswith(prefix):
                break
            out.append(docs[key])
        return out

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start following in the background (idempotent; needs a running loop)."""
        if self._task is None and not self._stopped:
            self._task = asyncio.get_running_loop().create_task(self._follow(), name="api read cache")

    async def stop(self) -> None:
        self._stopped = True
        self.ready = False
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def wait_for(self, revision: int, timeout: float) -> bool:
        """True once the cache is live at `revision` or later; False after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not (self.live() and self.revision >= revision):
            remaining = deadline - loop.time()
            if remaining <= 0 or self._stopped:
                return False
            event = self._advanced
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await event.wait()
        return True

    # ------------------------------------------------------------------ following

    async def _follow(self) -> None:
        """One watch of `t/` from a snapshot; a watch that gives up is started again from a new
        snapshot (nothing is served from the old image meanwhile: `ready` is False)."""
        low, high = self._backoff
        delay = low
        while not self._stopped:
            watch = self.db.watch(PREFIX, from_revision=None, progress=True)
            try:
                async for item in watch:
                    self._apply(item)
                    delay = low
                raise ConnectionResetError("watch ended")
            except asyncio.CancelledError:
                raise
            except (Unauthorized, InvalidRequest) as exc:  # cannot heal by retrying
                self.error = exc
                self.ready = False
                log_event(log, "api_cache_refused", logging.ERROR, reason=str(exc))
                return
            except Exception as exc:
                self.ready = False
                log_event(
                    log,
                    "api_cache_restart",
                    logging.WARNING,
                    revision=self.revision,
                    reason=f"{type(exc).__name__}: {exc}"[:300],
                    retry_in_s=round(delay, 2),
                )
            finally:
                with contextlib.suppress(Exception):
                    await watch.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, high)

    def _apply(self, item: Any) -> None:
        self._heard = self._monotonic()
        if isinstance(item, WatchEvent):
            tid = _tenant_of(item.key)
            if tid is not None:
                docs = self.tenants.setdefault(tid, {})
                if item.key not in docs:
                    self._order.pop(tid, None)  # a new key, or a delete of an absent one
                if item.type == "put":
                    docs[item.key] = KV(key=item.key, value=item.value, revision=item.revision)
                else:
                    docs.pop(item.key, None)
                    self._order.pop(tid, None)
                    if not docs:
                        del self.tenants[tid]
            self.revision = max(self.revision, item.revision)
        elif isinstance(item, Resync):
            tenants: dict[str, dict[str, KV]] = {}
            for kv in item.items:
                tid = _tenant_of(kv.key)
                if tid is not None:
                    tenants.setdefault(tid, {})[kv.key] = kv
            self.tenants = tenants
            self._order = {}
            self.revision = item.revision
            self.ready = True
            log_event(log, "api_cache_snapshot", revision=item.revision, keys=len(item.items))
        elif isinstance(item, Progress):
            self.revision = max(self.revision, item.revision)
        self._signal()

    def _signal(self) -> None:
        event, self._advanced = self._advanced, asyncio.Event()
        event.set()


class CachedRepo(ConfigRepo):
    """`ConfigRepo` whose reads in read requests come from a `TenantCache` when it is current."""

    MAX_MODELS = 100_000

    def __init__(self, db: AsyncConfigDBClient, cache: TenantCache) -> None:
        super().__init__(db)
        self.cache = cache
        self.last_write = 0  # the revision of this process's last write
        self._models: dict[tuple[str, type[BaseModel]], Versioned[Any]] = {}

    def _model(self, kv: KV, model: type[M]) -> Versioned[M]:
        """`kv` validated as `model`, once per key, model and revision."""
        slot = (kv.key, model)
        got = self._models.get(slot)
        if got is None or got.revision != kv.revision:
            if len(self._models) >= self.MAX_MODELS:
                self._models.clear()
            got = self._models[slot] = Versioned(model.model_validate(kv.value), kv.revision)
        return got

    async def _usable(self, key: str) -> bool:
        if not _cache_reads.get() or _tenant_of(key) is None:
            return False
        cache = self.cache
        if cache.live() and cache.revision >= self.last_write:
            return True
        cache.start()
        # Live but behind this process's own last write: wait for the watch to bring it.
        return cache.live() and await cache.wait_for(self.last_write, CATCH_UP_S)

    async def get(self, key: str, model: type[M]) -> Versioned[M] | None:
        if await self._usable(key):
            kv = self.cache.get(key)
            return None if kv is None else self._model(kv, model)
        return await super().get(key, model)

    async def raw(self, key: str) -> Any | None:
        if await self._usable(key):
            kv = self.cache.get(key)
            return None if kv is None else kv.value
        return await super().raw(key)

    async def list(self, prefix: str, model: type[M]) -> list[Versioned[M]]:
        if await self._usable(prefix):
            return [self._model(kv, model) for kv in self.cache.under(prefix)]
        return await super().list(prefix, model)

    async def scan(self, prefix: str, model: type[M]) -> AsyncIterator[Versioned[M]]:
        if await self._usable(prefix):
            for kv in self.cache.under(prefix):
                yield self._model(kv, model)
            return
        async for got in super().scan(prefix, model):
            yield got

    async def scan_raw(self, prefix: str) -> AsyncIterator[tuple[str, Any]]:
        if await self._usable(prefix):
            for kv in self.cache.under(prefix):
                yield kv.key, kv.value
            return
        async for got in super().scan_raw(prefix):
            yield got

    async def _txn(self, compare: Any, ops: Any) -> tuple[bool, int]:
        ok, revision = await super()._txn(compare, ops)
        self.last_write = max(self.last_write, revision)
        return ok, revision
