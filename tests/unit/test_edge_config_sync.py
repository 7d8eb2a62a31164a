"""ConfigSync's own logic over a scripted in-memory source (the real cluster is in
tests/integration/test_edge_config_sync.py): batching, resync, restart, refusal."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from shared.configdb.errors import ConfigDBUnavailable, Unauthorized
from shared.configdb.models import KV, Progress, Resync, WatchEvent, WatchItem
from shared.configdb_keys import menu_key, tenant_key
from sip_edge.config_sync import ConfigChange, ConfigSync

from .edge_docs import menu_doc, tenant_doc, uid

T, M = uid(), uid()


class _Source:
    """Snapshots from a dict; each `watch()` call plays the next script (a list of items or an
    exception to raise), then waits forever."""

    def __init__(self, scripts: dict[str, list[list[Any]]]) -> None:
        self.scripts = scripts
        self.watch_calls: list[tuple[str, int | None]] = []

    async def snapshot(self, prefix: str) -> tuple[list[KV], int]:
        if prefix == "t/":
            return [KV(key=tenant_key(T), value=tenant_doc(T), revision=5)], 5
        return [], 5

    def watch(self, prefix: str, *, from_revision: int | None = None, progress: bool = False) -> Any:
        self.watch_calls.append((prefix, from_revision))
        script = self.scripts.get(prefix, [])
        steps = script.pop(0) if script else []
        return _Watch(steps)


class _Watch:
    def __init__(self, steps: list[Any]) -> None:
        self.steps = steps

    def __aiter__(self) -> AsyncIterator[WatchItem]:
        return self._run()

    async def _run(self) -> AsyncIterator[WatchItem]:
        for step in self.steps:
            if isinstance(step, BaseException):
                raise step
            yield step
        await asyncio.Event().wait()

    async def aclose(self) -> None:
        return None


def _event(rev: int, key: str, value: Any) -> WatchEvent:
    return WatchEvent(revision=rev, type="put" if value is not None else "delete", key=key, value=value)


def test_batches_restart_and_resync() -> None:
    async def run() -> None:
        src = _Source(
            {
                "t/": [
                    [
                        _event(6, menu_key(T, M), menu_doc(T, M, name="a")),
                        _event(7, menu_key(T, M), menu_doc(T, M, name="b")),
                        ConfigDBUnavailable("all nodes down", attempts=3, last_error="refused"),
                    ],
                    [
                        _event(8, menu_key(T, M), menu_doc(T, M, name="c")),
                        Resync(
                            items=[KV(key=tenant_key(T), value=tenant_doc(T, name="Fresh"), revision=20)],
                            revision=30,
                            reason="compacted",
                        ),
                    ],
                ],
                "idx/number/": [[Progress(revision=40)]],
            }
        )
        changes: list[ConfigChange] = []
        sync = ConfigSync(src, on_change=changes.append, backoff=(0.01, 0.05))  # type: ignore[arg-type]
        await sync.start()
        assert sync.ready and sync.revision == 5
        assert await sync.wait_for_revision(30, 2.0)
        d = sync.directory
        assert d.menu(T, M) is None  # the resync image has no menu
        assert d.tenant(T).name == "Fresh"  # type: ignore[union-attr]
        assert sync.revision == 30 and sync.prefix_revision("idx/number/") == 40
        # the restarted watch resumed after the last applied revision
        assert ("t/", 6) in src.watch_calls and ("t/", 8) in src.watch_calls
        first = changes[0]
        assert (first.first_revision, first.revision, first.count) == (6, 7, 2)  # one batch
        assert any(c.resync for c in changes)
        assert not await sync.wait_for_revision(99, 0.05)
        await sync.stop()

    asyncio.run(run())


def test_refusal_stops_following_and_is_reported() -> None:
    async def run() -> None:
        src = _Source({"t/": [[Unauthorized("bad token", status=401)]]})
        sync = ConfigSync(src)  # type: ignore[arg-type]
        await sync.start()
        for _ in range(50):
            if sync.error is not None:
                break
            await asyncio.sleep(0.01)
        assert isinstance(sync.error, Unauthorized)
        assert sync.status()["error"] and sync.directory.tenant(T) is not None  # keeps serving
        await sync.stop()

    asyncio.run(run())
