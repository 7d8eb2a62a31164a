"""The ConfigDB client library and admin CLI against a real 3-node shard.

Failover of data calls across a leader kill, watch resume across a kill of the node the
watch is connected to (no gap, no duplicate), compaction answered with a resync, the
asyncio client, and the admin CLI run as a subprocess.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import orjson
import pytest

from infra.local.configdb_cluster import REPO, LocalCluster, NodeProc
from shared.configdb import (
    AsyncConfigDBClient,
    Compare,
    CompareFailed,
    ConfigDBClient,
    KeyNotFound,
    Op,
    PrefixView,
    Resync,
    Unauthorized,
    WatchEvent,
)


def _ordered(cluster: LocalCluster, first: NodeProc) -> list[str]:
    """The cluster's endpoints with `first` first (the client starts on it)."""
    return [first.http] + [n.http for n in cluster.nodes if n is not first]


def test_data_calls_and_errors(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    with ConfigDBClient(cluster.endpoints, cluster.token) as db:
        r1 = db.put("c/t/a", {"n": 1})
        assert db.get("c/t/a").model_dump() == {"key": "c/t/a", "value": {"n": 1}, "revision": r1}
        assert db.get_or_none("c/t/missing") is None
        with pytest.raises(KeyNotFound):
            db.delete("c/t/missing")
        with pytest.raises(CompareFailed) as cf:
            db.put("c/t/a", 2, prev_revision=0)
        assert cf.value.revision == r1
        # the same request id twice: applied once, answered with the first result
        again = db.put("c/t/b", "x", request_id="client-it-1")
        assert db.put("c/t/b", "y", request_id="client-it-1") == again
        assert db.get("c/t/b", consistent=True).value == "x"
        res = db.txn(
            [Compare("c/t/a", r1), Compare.absent("c/t/c")], [Op.put("c/t/c", 3), Op.delete("c/t/b")]
        )
        assert res.succeeded and res.revision == again + 1
        miss = db.txn([Compare("c/t/a", r1 + 100)], [Op.put("c/t/x", 0)], [Op.put("c/t/d", 4)])
        assert not miss.succeeded
        for i in range(25):
            db.put(f"c/p/{i:02d}", i)
        assert [kv.value for kv in db.iter_prefix("c/p/", page_size=7)] == list(range(25))
        page = db.list("c/p/", limit=10)
        assert len(page.items) == 10 and page.next == "c/p/09"
        items, rev = db.snapshot("c/")
        assert rev == db.status().revision
        assert [kv.key for kv in items] == sorted(kv.key for kv in items)
        assert {kv.key for kv in items} >= {"c/t/a", "c/t/c", "c/t/d", "c/p/00"}
        assert db.discovery(tenant="acme").shard
    with ConfigDBClient(cluster.endpoints, "wrong-token") as bad:
        with pytest.raises(Unauthorized):
            bad.get("c/t/a")
        with pytest.raises(Unauthorized):
            next(iter(bad.watch("c/", from_revision=1)))


def test_failover_across_a_leader_kill(cluster: LocalCluster) -> None:
    leader = cluster.wait_healthy()
    with ConfigDBClient(_ordered(cluster, leader), cluster.token, timeout=2.0) as db:
        r1 = db.put("f/a", 1)
        cluster.kill(leader)
        r2 = db.put("f/a", 2)  # connection refused, then maybe 503 while electing
        assert r2 > r1
        assert db.current_endpoint != leader.http
        assert db.get("f/a", consistent=True).value == 2


def test_watch_resumes_across_a_kill_without_gap_or_duplicate(cluster: LocalCluster) -> None:
    leader = cluster.wait_healthy()
    total = 200
    written: list[int] = []
    writer_error: list[BaseException] = []
    go = threading.Event()

    def writer() -> None:
        try:
            with ConfigDBClient(_ordered(cluster, leader), cluster.token, timeout=2.0) as w:
                go.wait(10)
                for i in range(total):
                    written.append(w.put(f"w/{i:04d}", {"i": i}))
        except BaseException as exc:  # reported by the main thread
            writer_error.append(exc)

    seen: list[int] = []
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    with (
        ConfigDBClient(_ordered(cluster, leader), cluster.token, timeout=2.0) as db,
        db.watch("w/") as watch,
    ):
        for item in watch:
            if isinstance(item, Resync):
                assert item.reason == "initial" and item.items == []
                go.set()
                continue
            assert isinstance(item, WatchEvent)
            seen.append(item.revision)
            if len(seen) == 50:
                cluster.kill(leader)  # the node this watch is connected to
            if len(seen) == total:
                break
    thread.join(60)
    assert not writer_error, writer_error
    assert seen == sorted(written)
    assert len(set(seen)) == total


def test_compacted_history_is_answered_with_a_resync(cluster_factory: Any) -> None:
    cluster: LocalCluster = cluster_factory(extra_args=["--history-retain", "5"])
    cluster.wait_healthy()
    with ConfigDBClient(cluster.endpoints, cluster.token) as db:
        for i in range(20):
            db.put(f"k/{i:02d}", i)
        deleted = db.delete("k/00")
        view = PrefixView()
        with db.watch("k/", from_revision=1) as watch:
            first = next(watch)
            assert isinstance(first, Resync) and first.reason == "compacted"
            assert len(first.items) == 19 and first.revision == deleted
            synthetic = view.apply(first)
            assert len(synthetic) == 19 and all(e.type == "put" for e in synthetic)
            rev = db.put("k/new", "n")
            nxt = next(watch)
            assert isinstance(nxt, WatchEvent) and nxt.revision == rev and nxt.key == "k/new"
            assert watch.next_revision == rev + 1


def test_async_client(cluster: LocalCluster) -> None:
    cluster.wait_healthy()

    async def run() -> None:
        async with AsyncConfigDBClient(cluster.endpoints, cluster.token) as db:
            rev = await db.put("a/x", [1, 2])
            assert (await db.get("a/x")).value == [1, 2]
            items, srev = await db.snapshot("a/")
            assert [kv.key for kv in items] == ["a/x"] and srev >= rev
            async with db.watch("a/", from_revision=rev) as watch:
                got = await watch.__anext__()
                assert isinstance(got, WatchEvent) and got.revision == rev
                rev2 = await db.delete("a/x")
                got2 = await watch.__anext__()
                assert isinstance(got2, WatchEvent) and (got2.revision, got2.type) == (rev2, "delete")
            assert [kv async for kv in db.iter_prefix("a/")] == []

    asyncio.run(run())


# ----------------------------------------------------------------------------- CLI


def _cli(cluster: LocalCluster, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONFIGDB_TOKEN": token or cluster.token}
    return subprocess.run(
        [sys.executable, "-m", "configdb_nodes.admin", "--endpoints", ",".join(cluster.endpoints), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _lines(out: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in out.splitlines()]


def test_admin_cli(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    put = _cli(cluster, "put", "cli/a", '{"x": 1}')
    assert put.returncode == 0, put.stderr
    rev = _lines(put.stdout)[0]["revision"]
    assert _lines(_cli(cluster, "get", "cli/a").stdout) == [
        {"key": "cli/a", "value": {"x": 1}, "revision": rev}
    ]
    assert _cli(cluster, "put", "cli/b", '"text"').returncode == 0

    listed = _cli(cluster, "list", "cli/")
    assert [(d["key"], d["value"]) for d in _lines(listed.stdout)] == [("cli/a", {"x": 1}), ("cli/b", "text")]

    snap = _lines(_cli(cluster, "snapshot", "cli/").stdout)
    assert [d["key"] for d in snap[:-1]] == ["cli/a", "cli/b"]
    assert set(snap[-1]) == {"revision"} and snap[-1]["revision"] >= rev

    status = _cli(cluster, "status")
    assert status.returncode == 0 and len(_lines(status.stdout)) == 3

    deleted = _cli(cluster, "delete", "cli/b")
    assert deleted.returncode == 0 and _lines(deleted.stdout)[0]["revision"] > rev

    missing = _cli(cluster, "get", "cli/b")
    assert (missing.returncode, missing.stdout, missing.stderr) == (1, "", "not found: cli/b\n")

    bad_json = _cli(cluster, "put", "cli/c", "{nope")
    assert bad_json.returncode == 2 and "invalid JSON" in bad_json.stderr
    assert "Traceback" not in bad_json.stderr

    cas = _cli(cluster, "put", "cli/a", "2", "--prev-revision", "0")
    assert cas.returncode == 1 and "compare failed" in cas.stderr

    unauthorized = _cli(cluster, "get", "cli/a", token="wrong")
    assert unauthorized.returncode == 1 and "unauthorized" in unauthorized.stderr
    assert unauthorized.stderr.count("\n") == 1


def test_admin_cli_watch_streams_until_interrupted(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    cmd = [sys.executable, "-m", "configdb_nodes.admin", "--endpoints", ",".join(cluster.endpoints)]
    with ConfigDBClient(cluster.endpoints, cluster.token) as db:
        first = db.put("cw/a", 1)
        watch = [*cmd, "watch", "cw/", "--from-revision", str(first)]
        env = {**os.environ, "CONFIGDB_TOKEN": cluster.token}
        pipes: dict[str, Any] = {
            "stdout": subprocess.PIPE,
            "stderr": subprocess.PIPE,
            "text": True,
            "env": env,
            # Started as a shell starts a background job: with SIGINT ignored. The CLI
            # still ends on it.
            "preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        }
        with subprocess.Popen(watch, cwd=REPO, **pipes) as proc:
            assert proc.stdout is not None and proc.stderr is not None
            lines: queue.Queue[str] = queue.Queue()
            out = proc.stdout
            threading.Thread(target=lambda: [lines.put(line) for line in out], daemon=True).start()
            try:
                assert orjson.loads(lines.get(timeout=20)) == {
                    "revision": first,
                    "type": "put",
                    "key": "cw/a",
                    "value": 1,
                }
                second = db.delete("cw/a")
                assert orjson.loads(lines.get(timeout=20)) == {
                    "revision": second,
                    "type": "delete",
                    "key": "cw/a",
                    "value": None,
                }
            finally:
                time.sleep(0.2)
                proc.send_signal(signal.SIGINT)
                try:
                    rc = proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    raise
            assert rc == 0
            assert proc.stderr.read() == ""
