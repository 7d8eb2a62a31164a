"""Update listening and snapshots over the stream port of real nodes."""

from __future__ import annotations

import threading
import time

import httpx

from infra.local.configdb_cluster import LocalCluster, NodeProc
from tests.waiting import eventually

from .streamwire import StreamConn


def _put_many(
    cluster: LocalCluster, prefix: str, n: int, stop_after: threading.Event | None = None
) -> list[int]:
    revs = []
    with httpx.Client(headers=cluster.headers(), timeout=2) as c:
        for i in range(n):
            for attempt in range(300):
                node = cluster.nodes[(i + attempt) % 3]
                try:
                    r = c.put(
                        f"{node.http}/v1/kv/{prefix}{i}", json={"i": i}, params={"request_id": f"{prefix}{i}"}
                    )
                    if r.status_code == 200:
                        revs.append(r.json()["revision"])
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)
    return revs


def test_watch_spanning_a_leader_change_has_no_gap_and_no_duplicate(cluster: LocalCluster) -> None:
    leader = cluster.wait_healthy()
    seen: list[tuple[int, str]] = []
    total = 300
    done = threading.Event()

    def listen() -> None:
        """Start on the leader; when it dies resume on a survivor from the last revision + 1."""
        nxt = 1
        nodes: list[NodeProc] = [leader] + [n for n in cluster.nodes if n is not leader]
        k = 0
        while len(seen) < total and not done.is_set():
            node = nodes[k % len(nodes)]
            k += 1
            try:
                conn = StreamConn(
                    node.stream_port,
                    {"token": cluster.token, "op": "watch", "prefix": "w/", "from_revision": nxt},
                    timeout=3,
                )
                while len(seen) < total:
                    f = conn.frame()
                    if f["type"] == "events":
                        for e in f["events"]:
                            seen.append((e["revision"], e["key"]))
                            nxt = e["revision"] + 1
                conn.close()
            except OSError:
                time.sleep(0.05)

    t = threading.Thread(target=listen)
    t.start()
    writes = threading.Thread(target=_put_many, args=(cluster, "w/", total))
    writes.start()
    try:
        # The leader dies mid-stream: once the watch has delivered some of the writes, not all.
        eventually(lambda: len(seen) >= 20, timeout=30, message="the watch to deliver the first 20 writes")
        cluster.kill(leader)
        writes.join(60)
        t.join(60)
    finally:
        done.set()
    revs = [r for r, _ in seen]
    assert len(seen) == total
    assert revs == sorted(set(revs)), "duplicate or out-of-order events"
    assert revs == list(range(revs[0], revs[0] + total)), "a gap in the revisions"
    assert sorted(k for _, k in seen) == sorted(f"w/{i}" for i in range(total))


def test_compacted_start_then_snapshot_and_watch(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster: LocalCluster = cluster_factory(extra_args=["--history-retain", "50"])
    cluster.wait_healthy()
    revs = _put_many(cluster, "c/", 120)
    cluster.wait_applied(revs[-1])
    port = cluster.nodes[1].stream_port
    conn = StreamConn(port, {"token": cluster.token, "op": "watch", "prefix": "c/", "from_revision": 1})
    f = conn.frame()
    assert f["type"] == "compacted"
    assert f["compact_revision"] >= revs[-1] - 50 and f["revision"] == revs[-1]
    # The way back: a snapshot that continues as a watch from its revision + 1.
    conn = StreamConn(port, {"token": cluster.token, "op": "snapshot", "prefix": "c/", "watch": True})
    items = []
    while (f := conn.frame())["type"] == "snapshot":
        items += f["items"]
    assert f == {"type": "snapshot_end", "revision": revs[-1]}
    assert len(items) == 120 and [i["key"] for i in items] == sorted(i["key"] for i in items)
    more = _put_many(cluster, "c/new", 3)
    events = []
    while len(events) < 3:
        f = conn.frame()
        if f["type"] == "events":
            events += f["events"]
    assert [e["revision"] for e in events] == more == [revs[-1] + 1, revs[-1] + 2, revs[-1] + 3]
    # A watch from a retained revision still works.
    conn = StreamConn(
        port, {"token": cluster.token, "op": "watch", "prefix": "c/", "from_revision": revs[-1] - 10}
    )
    f = conn.frame()
    assert f["type"] == "events" and f["events"][0]["revision"] == revs[-1] - 10


def test_deletes_progress_and_prefix_filtering(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    conn = StreamConn(cluster.nodes[2].stream_port, {"token": cluster.token, "op": "watch", "prefix": "t/a/"})
    with httpx.Client(headers=cluster.headers()) as c:
        base = cluster.nodes[0].http
        r1 = c.put(f"{base}/v1/kv/t/a/x", json=1).json()["revision"]
        c.put(f"{base}/v1/kv/t/b/x", json=2)
        r3 = c.delete(f"{base}/v1/kv/t/a/x").json()["revision"]
    events = []
    while len(events) < 2:
        f = conn.frame()
        if f["type"] == "events":
            events += f["events"]
    assert events == [
        {"revision": r1, "type": "put", "key": "t/a/x", "value": 1},
        {"revision": r3, "type": "delete", "key": "t/a/x", "value": None},
    ]
    f = conn.frame()
    assert f == {"type": "progress", "revision": r3}


def test_slow_listener_is_disconnected_with_a_reason(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster: LocalCluster = cluster_factory(extra_args=["--listener-buffer", "20"])
    cluster.wait_healthy()
    conn = StreamConn(
        cluster.nodes[0].stream_port, {"token": cluster.token, "op": "watch", "prefix": "big/"}, timeout=30
    )
    blob = "x" * 60_000
    with httpx.Client(headers=cluster.headers(), timeout=10) as c:
        for i in range(400):
            assert c.put(f"{cluster.nodes[0].http}/v1/kv/big/{i}", json=blob).status_code == 200
        # Writes never stalled; the node still answers.
        assert c.get(f"{cluster.nodes[0].http}/v1/status").status_code == 200
    last = None
    while True:
        try:
            last = conn.frame()
        except ConnectionError:
            break
    assert last == {"type": "closed", "reason": "slow listener"}
