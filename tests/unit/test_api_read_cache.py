"""TenantCache and CachedRepo without a network: what is served from the cache, and when not."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from functions.http_api import read_cache
from functions.http_api.read_cache import CachedRepo, TenantCache
from shared.configdb import KV, Progress, Resync, WatchEvent


class Doc(BaseModel):
    name: str


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class FakeDb:
    """`get_or_none` / `iter_prefix` / `txn` of the ConfigDB client, from a dict, counting reads."""

    def __init__(self, data: dict[str, KV]) -> None:
        self.data = data
        self.reads = 0

    async def get_or_none(self, key: str) -> KV | None:
        self.reads += 1
        return self.data.get(key)

    async def iter_prefix(self, prefix: str, page_size: int = 100) -> Any:
        self.reads += 1
        for k in sorted(self.data):
            if k.startswith(prefix):
                yield self.data[k]


def put(key: str, name: str, rev: int) -> WatchEvent:
    return WatchEvent(revision=rev, type="put", key=key, value={"name": name})


def test_the_cache_follows_puts_deletes_and_resyncs_in_key_order() -> None:
    clock = Clock()
    cache = TenantCache(FakeDb({}), monotonic=clock)  # type: ignore[arg-type]
    assert not cache.live()
    cache._apply(
        Resync(items=[KV(key="t/a/user/2", value={"name": "B"}, revision=3)], revision=5, reason="initial")
    )
    assert cache.live() and cache.revision == 5
    cache._apply(put("t/a/user/1", "A", 6))
    cache._apply(put("t/a/user0", "not under user/", 7))
    cache._apply(put("t/b/user/9", "other tenant", 8))
    assert [kv.key for kv in cache.under("t/a/user/")] == ["t/a/user/1", "t/a/user/2"]
    cache._apply(WatchEvent(revision=9, type="delete", key="t/a/user/1", value=None))
    assert [kv.key for kv in cache.under("t/a/user/")] == ["t/a/user/2"]
    assert cache.get("t/a/user/1") is None and cache.get("t/b/user/9") is not None
    cache._apply(Progress(revision=12))
    assert cache.revision == 12
    cache._apply(
        Resync(items=[KV(key="t/c/x", value={"name": "C"}, revision=13)], revision=14, reason="compacted")
    )
    assert cache.under("t/a/") == [] and cache.get("t/c/x") is not None
    clock.t += read_cache.MAX_SILENCE_S + 0.1  # nothing heard: the watch is down
    assert not cache.live()


def test_reads_use_the_cache_only_in_read_requests_while_live_and_after_own_writes() -> None:
    async def run() -> None:
        clock = Clock()
        db = FakeDb({"t/a/user/1": KV(key="t/a/user/1", value={"name": "db"}, revision=4)})
        cache = TenantCache(db, monotonic=clock)  # type: ignore[arg-type]
        cache.start = lambda: None  # type: ignore[method-assign]  # fed by hand below
        repo = CachedRepo(db, cache)  # type: ignore[arg-type]
        cache._apply(
            Resync(
                items=[KV(key="t/a/user/1", value={"name": "cache"}, revision=4)],
                revision=5,
                reason="initial",
            )
        )

        # Not a read request: the ConfigDB.
        assert (await repo.get("t/a/user/1", Doc)).doc.name == "db"  # type: ignore[union-attr]
        token = read_cache._cache_reads.set(True)
        try:
            got = await repo.get("t/a/user/1", Doc)
            assert got is not None and got.doc.name == "cache"
            assert await repo.get("t/a/user/1", Doc) is got  # validated once per revision
            assert [v.doc.name for v in await repo.list("t/a/user/", Doc)] == ["cache"]
            reads = db.reads
            # This process wrote revision 7, which the cache has not applied yet: the read
            # waits for it (read-your-writes) ...
            repo.last_write = 7
            waiting = asyncio.ensure_future(repo.get("t/a/user/1", Doc))
            await asyncio.sleep(0.01)
            assert not waiting.done()
            cache._apply(put("t/a/user/1", "mine", 7))
            assert (await waiting).doc.name == "mine"  # type: ignore[union-attr]
            assert db.reads == reads
            # ... and a silent watch sends reads to the ConfigDB.
            clock.t += read_cache.MAX_SILENCE_S + 0.1
            assert (await repo.get("t/a/user/1", Doc)).doc.name == "db"  # type: ignore[union-attr]
            assert db.reads == reads + 1
            # Keys that name no tenant are never cached.
            clock.t -= read_cache.MAX_SILENCE_S + 0.1
            assert await repo.raw("idx/email/x") is None and db.reads == reads + 2
        finally:
            read_cache._cache_reads.reset(token)

    asyncio.run(run())
