"""Keeps a `TenantDirectory` current: one ConfigDB snapshot at start, then update listening.

    sync = ConfigSync(client, directory, on_change=callback)
    await sync.start()            # returns once `t/` and `idx/number/` are loaded
    ... directory lookups, never a ConfigDB query per call ...
    await sync.wait_for_revision(rev, timeout=1.0)
    await sync.stop()

Each prefix is followed by its own watch from its snapshot's revision + 1. The client's watch
resumes across disconnects and node failures by itself (from the last delivered revision + 1,
so nothing is missed or applied twice); when the node answers `compacted` it takes a new
snapshot and delivers it as a `Resync`, which replaces that prefix's part of the directory.
Should a watch give up (`ConfigDBUnavailable` after its retry budget, a protocol error), the
follower logs it and starts a new watch from where it was, with capped backoff: the directory
keeps serving the last known configuration meanwhile. A refused request (bad token, bad prefix)
cannot heal by retrying: the follower stops, logs it, and `error` is set (health shows it).

Changes are applied one by one as they arrive (each `apply` is atomic on the loop). Everything
consumed before the follower next waits on the network forms a batch: one structured log line
`config_applied` and one `on_change(ConfigChange)` call per batch.

`revision` is the revision up to which every followed prefix is known to be current: a prefix
that did not change moves forward with the node's idle progress frames (every 0.5 s), so for a
change under one prefix `wait_for_revision(rev, prefixes=("t/",))` is the quick way to wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from shared.configdb.errors import ConfigDBError, InvalidRequest, Unauthorized
from shared.configdb.models import KV, Progress, Resync, WatchEvent, WatchItem
from shared.logs import log_event
from sip_edge.directory import PREFIXES, TenantDirectory

log = logging.getLogger("sip_edge.config_sync")
# A live watch hears at least the node's progress frame every 0.5 s; a failover reconnects in
# about a second. Silence longer than this: the edge is serving a configuration it cannot renew.
WATCH_SILENCE_S = 5.0


class _Watch(Protocol):
    def __aiter__(self) -> AsyncIterator[WatchItem]: ...

    async def aclose(self) -> None: ...


class ConfigSource(Protocol):
    """The part of `AsyncConfigDBClient` the follower uses."""

    async def snapshot(self, prefix: str) -> tuple[list[KV], int]: ...

    def watch(self, prefix: str, *, from_revision: int | None = None, progress: bool = False) -> Any: ...


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """One applied batch: `count` changes with revisions `first_revision..revision` under
    `prefix`; `tenants` touched (for `t/`), `numbers` touched (for `idx/number/`); `resync` when
    the prefix was replaced by a fresh image (after a compaction)."""

    prefix: str
    first_revision: int
    revision: int
    count: int
    keys: tuple[str, ...]
    tenants: frozenset[str] = frozenset()
    resync: bool = False


def _log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    log_event(log, event, level, **fields)


@dataclass
class _Batch:
    first_revision: int = 0
    revision: int = 0
    count: int = 0
    keys: list[str] = field(default_factory=list)
    tenants: set[str] = field(default_factory=set)
    resync: bool = False
    started: float = 0.0


class ConfigSync:
    """Snapshot plus watch of ConfigDB into a `TenantDirectory` (see the module docstring)."""

    MAX_LOGGED_KEYS = 5

    def __init__(
        self,
        client: ConfigSource,
        directory: TenantDirectory | None = None,
        *,
        prefixes: Sequence[str] = PREFIXES,
        on_change: Callable[[ConfigChange], None] | None = None,
        backoff: tuple[float, float] = (0.2, 10.0),
    ) -> None:
        self.client = client
        self.directory = directory if directory is not None else TenantDirectory()
        self.prefixes = tuple(prefixes)
        self.on_change = on_change
        self.ready = False
        self.error: BaseException | None = None
        self.batches = 0
        self.resyncs = 0
        self._backoff = backoff
        self._revisions: dict[str, int] = {p: 0 for p in self.prefixes}
        self._tasks: list[asyncio.Task[None]] = []
        self._watches: dict[str, _Watch] = {}
        self._batches: dict[str, _Batch] = {}
        self._flush_scheduled = False
        self._advanced = asyncio.Event()
        self._stopped = False
        self._heard: dict[str, float] = {}  # prefix -> time.monotonic() of its last snapshot or item

    # ------------------------------------------------------------------ state

    @property
    def revision(self) -> int:
        """Every followed prefix is current up to this revision (0 before `start`)."""
        return min(self._revisions.values()) if self._revisions else 0

    def prefix_revision(self, prefix: str) -> int:
        return self._revisions[prefix]

    def status(self) -> dict[str, Any]:
        """For /health: ready, revision per prefix, error."""
        return {
            "ready": self.ready,
            "revision": self.revision,
            "prefixes": dict(self._revisions),
            "error": None if self.error is None else str(self.error),
            "following": [p for p, t in zip(self.prefixes, self._tasks, strict=False) if not t.done()],
        }

    def watch_problem(self, max_silence: float = WATCH_SILENCE_S) -> str | None:
        """None while the snapshot is loaded and every prefix's watch is live (an item, at least
        the node's progress every half second, within `max_silence` seconds), else why not."""
        if not self.ready:
            return "the ConfigDB snapshot is not loaded"
        if self.error is not None:
            return f"the ConfigDB watch was refused: {self.error}"
        now = time.monotonic()
        for prefix, task in zip(self.prefixes, self._tasks, strict=False):
            if task.done():
                return f"the watch of {prefix!r} has ended"
            silent = now - self._heard.get(prefix, 0.0)
            if silent > max_silence:
                return f"no word from ConfigDB on {prefix!r} for {silent:.0f} s"
        return None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Take the snapshots, then follow. Raises what the snapshot raises (the edge cannot
        start without its configuration)."""
        if self.ready or self._tasks:
            return
        for prefix in self.prefixes:
            started = time.perf_counter()
            items, revision = await self.client.snapshot(prefix)
            applied = self.directory.load(prefix, ((kv.key, kv.value) for kv in items), revision)
            self._revisions[prefix] = revision
            self._heard[prefix] = time.monotonic()
            _log_event(
                "config_snapshot",
                prefix=prefix,
                revision=revision,
                keys=len(items),
                applied=applied,
                rejected=self.directory.rejected,
                ms=round((time.perf_counter() - started) * 1000, 1),
            )
        self.ready = True
        self._signal()
        self._tasks = [
            asyncio.create_task(self._follow(prefix), name=f"config-sync {prefix}")
            for prefix in self.prefixes
        ]
        _log_event("config_ready", revision=self.revision, **self.directory.counts())

    async def stop(self) -> None:
        self._stopped = True
        for w in list(self._watches.values()):
            with contextlib.suppress(Exception):
                await w.aclose()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks = []
        self._flush()

    async def wait_for_revision(
        self, revision: int, timeout: float = 5.0, *, prefixes: Sequence[str] | None = None
    ) -> bool:
        """Wait until the directory reflects every change up to `revision` (for `prefixes`,
        default all followed). True when reached, False on timeout."""
        names = tuple(prefixes) if prefixes is not None else self.prefixes
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while min(self._revisions[p] for p in names) < revision:
            remaining = deadline - loop.time()
            if remaining <= 0 or self._stopped:
                return False
            event = self._advanced
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await event.wait()
        return True

    # ------------------------------------------------------------------ following

    async def _follow(self, prefix: str) -> None:
        low, high = self._backoff
        delay = low
        while not self._stopped:
            watch = self.client.watch(prefix, from_revision=self._revisions[prefix] + 1, progress=True)
            self._watches[prefix] = watch
            try:
                async for item in watch:
                    self._on_item(prefix, item)
                    delay = low
                if self._stopped:
                    return
                raise ConnectionResetError("watch ended")
            except asyncio.CancelledError:
                raise
            except (Unauthorized, InvalidRequest) as exc:
                self.error = exc
                _log_event("config_watch_refused", logging.ERROR, prefix=prefix, reason=str(exc))
                return
            except (ConfigDBError, OSError, ValueError) as exc:
                _log_event(
                    "config_watch_restart",
                    logging.WARNING,
                    prefix=prefix,
                    revision=self._revisions[prefix],
                    reason=f"{type(exc).__name__}: {exc}"[:300],
                    retry_in_s=round(delay, 2),
                )
            except Exception as exc:  # a bug must not silently end update listening
                log.exception("config watch on %s failed", prefix)
                _log_event("config_watch_restart", logging.ERROR, prefix=prefix, reason=repr(exc)[:300])
            finally:
                self._watches.pop(prefix, None)
                with contextlib.suppress(Exception):
                    await watch.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, high)

    def _on_item(self, prefix: str, item: WatchItem) -> None:
        self._heard[prefix] = time.monotonic()
        if isinstance(item, WatchEvent):
            batch = self._batch(prefix)
            self.directory.apply(item.key, item.value if item.type == "put" else None, item.revision)
            batch.count += 1
            batch.revision = max(batch.revision, item.revision)
            batch.first_revision = batch.first_revision or item.revision
            if len(batch.keys) < self.MAX_LOGGED_KEYS:
                batch.keys.append(item.key)
            if item.key.startswith("t/"):
                batch.tenants.add(item.key.split("/", 2)[1])
            self._revisions[prefix] = max(self._revisions[prefix], item.revision)
        elif isinstance(item, Resync):
            batch = self._batch(prefix)
            self.directory.load(prefix, ((kv.key, kv.value) for kv in item.items), item.revision)
            self.resyncs += 1
            batch.resync = True
            batch.count += len(item.items)
            batch.revision = max(batch.revision, item.revision)
            batch.first_revision = batch.first_revision or item.revision
            self._revisions[prefix] = item.revision
            _log_event(
                "config_resync", logging.WARNING, prefix=prefix, revision=item.revision, keys=len(item.items)
            )
        elif isinstance(item, Progress):
            if item.revision > self._revisions[prefix]:
                self._revisions[prefix] = item.revision
                self._schedule_flush()
            return
        self._schedule_flush()

    def _batch(self, prefix: str) -> _Batch:
        batch = self._batches.get(prefix)
        if batch is None:
            batch = self._batches[prefix] = _Batch(started=time.perf_counter())
        return batch

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """End of a batch: the follower is waiting on the network again."""
        self._flush_scheduled = False
        batches, self._batches = self._batches, {}
        for prefix, b in batches.items():
            self.batches += 1
            _log_event(
                "config_applied",
                prefix=prefix,
                first_revision=b.first_revision,
                revision=b.revision,
                changes=b.count,
                resync=b.resync,
                tenants=sorted(b.tenants)[:10],
                keys=b.keys,
                apply_ms=round((time.perf_counter() - b.started) * 1000, 3),
            )
            if self.on_change is not None:
                change = ConfigChange(
                    prefix=prefix,
                    first_revision=b.first_revision,
                    revision=b.revision,
                    count=b.count,
                    keys=tuple(b.keys),
                    tenants=frozenset(b.tenants),
                    resync=b.resync,
                )
                try:
                    self.on_change(change)
                except Exception:
                    log.exception("config on_change callback failed")
        self._signal()

    def _signal(self) -> None:
        event, self._advanced = self._advanced, asyncio.Event()
        event.set()


__all__ = ["ConfigChange", "ConfigSource", "ConfigSync"]
