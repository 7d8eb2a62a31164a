"""The edge's config follower against a real 3-node ConfigDB: snapshot, update listening,
change latency, a leader kill, and recovery from a compacted watch."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import statistics
import time
from typing import Any

import pytest

from infra.local.configdb_cluster import LocalCluster
from shared.configdb import AsyncConfigDBClient
from shared.configdb.models import KV, Op
from shared.configdb_keys import menu_key, number_index_key, number_key, tenant_key, user_key
from shared.directory.models import Greeting, IvrMenu, Number, Tenant, TransferUser, User
from shared.logs import JsonFormatter
from shared.values import EntryPoint, new_ulid
from sip_edge.config_sync import ConfigChange, ConfigSync
from sip_edge.directory import TenantDirectory
from sip_edge.routing import Start, route_inbound

NOW = dt.datetime.now(dt.UTC)
NUMBER = "+15557770001"


def _ids(n: int) -> list[str]:
    return [new_ulid(NOW, bytes([i + 1] * 10)) for i in range(n)]


def _tenant_docs(tid: str, uid: str, mid: str) -> list[tuple[str, Any]]:
    tenant = Tenant(id=tid, name="Acme", status="active", created_at=NOW, region="local")  # type: ignore[arg-type]
    user = User(id=uid, tenant_id=tid, name="Ann", email="ann@example.com", extension="101", created_at=NOW)
    menu = _menu(tid, mid, uid, "v0")
    number = Number(number=NUMBER, tenant_id=tid, entry=EntryPoint(type="menu", id=mid), created_at=NOW)
    return [
        (tenant_key(tid), tenant.model_dump(mode="json")),
        (user_key(tid, uid), user.model_dump(mode="json")),
        (menu_key(tid, mid), menu.model_dump(mode="json")),
        (number_key(tid, NUMBER), number.model_dump(mode="json")),
        (number_index_key(NUMBER), tid),
    ]


def _menu(tid: str, mid: str, uid: str, name: str) -> IvrMenu:
    return IvrMenu(
        id=mid,
        tenant_id=tid,
        name=name,
        greeting=Greeting(text=f"Welcome ({name})"),
        options={"1": TransferUser(user_id=uid)},
    )


async def _put_retrying(db: AsyncConfigDBClient, key: str, value: Any) -> int:
    """A put that survives the seconds a new leader takes to be elected."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return await db.put(key, value)
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


class _StaleSnapshot:
    """The real client, except that `snapshot` answers with an image taken earlier: the
    follower then watches from a revision the nodes have compacted away."""

    def __init__(self, db: AsyncConfigDBClient, images: dict[str, tuple[list[KV], int]]) -> None:
        self.db = db
        self.images = images

    async def snapshot(self, prefix: str) -> tuple[list[KV], int]:
        return self.images[prefix]

    def watch(self, prefix: str, *, from_revision: int | None = None, progress: bool = False) -> Any:
        return self.db.watch(prefix, from_revision=from_revision, progress=progress)


def test_follows_changes_fast_and_survives_a_leader_kill(
    cluster_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cluster: LocalCluster = cluster_factory(extra_args=["--history-retain", "60"])
    leader = cluster.wait_healthy()
    tid, uid, mid = _ids(3)
    caplog.set_level(logging.INFO, "sip_edge")

    async def run() -> dict[str, float]:
        # Leader first, so both the data calls and the watches start on the node that is killed.
        endpoints = [leader.http] + [n.http for n in cluster.nodes if n is not leader]
        async with AsyncConfigDBClient(endpoints, cluster.token, timeout=2.0) as db:
            stale_images = {p: await db.snapshot(p) for p in ("t/", "idx/number/")}
            result = await db.txn([], [Op.put(k, v) for k, v in _tenant_docs(tid, uid, mid)])
            assert result.succeeded

            changes: list[ConfigChange] = []
            sync = ConfigSync(db, TenantDirectory(), on_change=changes.append)
            await sync.start()
            d = sync.directory
            assert sync.ready and sync.revision >= result.revision

            # --- the snapshot is in the directory, and routing works from it
            found = d.number(NUMBER)
            assert found is not None and found[0].id == tid
            assert d.menu(tid, mid).name == "v0"  # type: ignore[union-attr]
            assert d.user_by_extension(tid, "101").id == uid  # type: ignore[union-attr]
            decision = route_inbound(d, NUMBER, None, NOW)
            assert isinstance(decision, Start) and decision.entry.id == mid

            # --- ~50 menu changes: time from the write to the directory showing it
            end_to_end: list[float] = []
            after_commit: list[float] = []
            for i in range(1, 51):
                doc = _menu(tid, mid, uid, f"v{i}").model_dump(mode="json")
                t0 = time.perf_counter()
                rev = await db.put(menu_key(tid, mid), doc)
                t1 = time.perf_counter()
                assert await sync.wait_for_revision(rev, 2.0, prefixes=("t/",))
                t2 = time.perf_counter()
                assert d.menu(tid, mid).name == f"v{i}"  # type: ignore[union-attr]
                end_to_end.append(t2 - t0)
                after_commit.append(t2 - t1)
            assert sync.directory.revision >= rev
            assert changes and changes[-1].revision == rev and tid in changes[-1].tenants
            # the whole view (both prefixes) catches up too, by the idle prefix's progress frames
            t0 = time.perf_counter()
            assert await sync.wait_for_revision(rev, 3.0)
            all_prefixes = time.perf_counter() - t0

            # --- a new number and a deleted one
            rev = await db.txn(
                [],
                [
                    Op.put(
                        number_key(tid, "+15557770002"),
                        Number(number="+15557770002", tenant_id=tid, created_at=NOW).model_dump(mode="json"),
                    ),
                    Op.put(number_index_key("+15557770002"), tid),
                ],
            )
            assert await sync.wait_for_revision(rev.revision, 2.0)
            assert d.number("+15557770002") is not None

            # --- a bad document is skipped without stopping the follower
            rev_bad = await db.put(menu_key(tid, mid), {"id": mid, "tenant_id": tid, "name": "broken"})
            assert await sync.wait_for_revision(rev_bad, 2.0, prefixes=("t/",))
            assert d.menu(tid, mid) is None and d.rejected == 1

            # --- kill the leader: updates keep flowing through the survivors
            cluster.kill(leader)
            t_kill = time.perf_counter()
            doc = _menu(tid, mid, uid, "after-kill").model_dump(mode="json")
            rev = await _put_retrying(db, menu_key(tid, mid), doc)
            write_failover = time.perf_counter() - t_kill
            assert await sync.wait_for_revision(rev, 15.0, prefixes=("t/",))
            failover = time.perf_counter() - t_kill
            assert d.menu(tid, mid).name == "after-kill"  # type: ignore[union-attr]
            post_kill: list[float] = []
            for i in range(10):
                doc = _menu(tid, mid, uid, f"k{i}").model_dump(mode="json")
                t0 = time.perf_counter()
                rev = await _put_retrying(db, menu_key(tid, mid), doc)
                assert await sync.wait_for_revision(rev, 2.0, prefixes=("t/",))
                post_kill.append(time.perf_counter() - t0)
            assert d.menu(tid, mid).name == "k9"  # type: ignore[union-attr]
            assert sync.error is None
            await sync.stop()

            # --- a follower that starts from an image older than the retained history:
            # the watch is answered `compacted`, the client re-snapshots, the directory catches up
            for i in range(40):  # push the first revisions out of the 60 retained
                await _put_retrying(db, f"filler/{i}", i)
            stale = ConfigSync(_StaleSnapshot(db, stale_images))  # type: ignore[arg-type]
            await stale.start()
            assert stale.directory.menu(tid, mid) is None  # the stale image predates the tenant
            assert await stale.wait_for_revision(rev, 10.0)
            assert stale.directory.menu(tid, mid).name == "k9"  # type: ignore[union-attr]
            assert stale.directory.number(NUMBER) is not None
            assert stale.resyncs >= 1
            await stale.stop()

        return {
            "median_ms": statistics.median(end_to_end) * 1000,
            "p95_ms": sorted(end_to_end)[int(0.95 * len(end_to_end)) - 1] * 1000,
            "max_ms": max(end_to_end) * 1000,
            "median_after_commit_ms": statistics.median(after_commit) * 1000,
            "all_prefixes_ms": all_prefixes * 1000,
            "failover_s": failover,
            "write_failover_s": write_failover,
            "post_kill_median_ms": statistics.median(post_kill) * 1000,
        }

    figures = asyncio.run(run())
    print("\nconfig change -> edge directory:", json.dumps({k: round(v, 2) for k, v in figures.items()}))
    assert figures["median_ms"] < 250, figures
    assert figures["max_ms"] < 1000, figures
    assert figures["post_kill_median_ms"] < 500, figures
    # every applied batch was logged as one structured line
    applied = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.getMessage() == "config_applied"
    ]
    assert applied and all({"prefix", "revision", "changes", "tenants"} <= a.keys() for a in applied)
