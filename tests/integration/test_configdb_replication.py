"""Replication, failover and durability of a real 3-node shard."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import httpx

from infra.local.configdb_cluster import LocalCluster
from tests.waiting import eventually, until_answered


def _client(cluster: LocalCluster) -> httpx.Client:
    return httpx.Client(headers=cluster.headers(), timeout=5)


def _get(c: httpx.Client, base: str, key: str) -> httpx.Response:
    return c.get(f"{base}/v1/kv/{key}")


def test_write_to_follower_lands_on_all_three(cluster: LocalCluster) -> None:
    leader = cluster.wait_healthy()
    follower = next(n for n in cluster.nodes if n is not leader)
    with _client(cluster) as c:
        r = c.put(f"{follower.http}/v1/kv/t/acme/user/1", json={"name": "Ada"})
        assert r.status_code == 200, r.text
        rev = r.json()["revision"]
        # A follower answers after applying locally: read-your-write on that node.
        assert _get(c, follower.http, "t/acme/user/1").json() == {
            "key": "t/acme/user/1",
            "value": {"name": "Ada"},
            "revision": rev,
        }
        r2 = c.put(f"{leader.http}/v1/kv/t/acme/user/2", json=[1, 2, 3])
        cluster.wait_applied(r2.json()["revision"])
        for n in cluster.nodes:
            assert _get(c, n.http, "t/acme/user/1").json()["value"] == {"name": "Ada"}
            assert _get(c, n.http, "t/acme/user/2").json()["revision"] == rev + 1


def test_revisions_are_cluster_wide_and_txn_takes_one(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    with _client(cluster) as c:
        base = cluster.nodes[0].http
        r1 = c.put(f"{base}/v1/kv/a", json=1).json()["revision"]
        txn = c.post(
            f"{base}/v1/txn",
            json={
                "compare": [{"key": "idx/number/+15551234567", "revision": 0}],
                "success": [
                    {"put": "t/x/number/+15551234567", "value": {"n": 1}},
                    {"put": "idx/number/+15551234567", "value": "x"},
                ],
                "failure": [],
            },
        ).json()
        assert txn == {"succeeded": True, "revision": r1 + 1}
        items = c.get(f"{base}/v1/kv", params={"prefix": ""}).json()["items"]
        revs = {i["key"]: i["revision"] for i in items}
        assert revs["t/x/number/+15551234567"] == revs["idx/number/+15551234567"] == r1 + 1
        # The same claim again fails its compare and takes no revision.
        again = c.post(
            f"{base}/v1/txn",
            json={
                "compare": [{"key": "idx/number/+15551234567", "revision": 0}],
                "success": [{"put": "idx/number/+15551234567", "value": "y"}],
                "failure": [{"put": "conflicts/last", "value": "y"}],
            },
        ).json()
        assert again == {"succeeded": False, "revision": r1 + 2}
        assert _get(c, base, "idx/number/+15551234567").json()["value"] == "x"


def test_compare_and_set(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    with _client(cluster) as c:
        base = cluster.nodes[1].http
        assert c.put(f"{base}/v1/kv/k", params={"prev_revision": 0}, json="v1").status_code == 200
        r = c.put(f"{base}/v1/kv/k", params={"prev_revision": 0}, json="v2")
        assert r.status_code == 409
        assert r.headers["content-type"] == "application/problem+json"
        current = r.json()["revision"]
        assert current > 0
        assert c.put(f"{base}/v1/kv/k", params={"prev_revision": current - 1}, json="v3").status_code == 409
        ok = c.put(f"{base}/v1/kv/k", params={"prev_revision": current}, json="v4")
        assert ok.status_code == 200
        assert _get(c, base, "k").json()["value"] == "v4"
        assert c.delete(f"{base}/v1/kv/k", params={"prev_revision": current}).status_code == 409
        assert c.delete(f"{base}/v1/kv/k").status_code == 200
        assert c.delete(f"{base}/v1/kv/k").status_code == 404
        assert _get(c, base, "k").status_code == 404


def test_retried_request_id_applies_once(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    with _client(cluster) as c:
        rid = uuid.uuid4().hex
        # 503 and 504 (no leader yet, outcome unknown) are retried with the same request id
        first = until_answered(
            lambda: c.put(f"{cluster.nodes[0].http}/v1/kv/counter", params={"request_id": rid}, json=1)
        )
        again = until_answered(
            lambda: c.put(f"{cluster.nodes[2].http}/v1/kv/counter", params={"request_id": rid}, json=1)
        )
        assert first == again
        status = c.get(f"{cluster.nodes[0].http}/v1/status").json()
        assert status["revision"] == first["revision"]


def _writer(cluster: LocalCluster, acked: dict[str, int], stop: threading.Event, prefix: str) -> None:
    """Write unique keys, retrying each with its request id across nodes until acknowledged."""
    i = 0
    with _client(cluster) as c:
        while not stop.is_set():
            key, rid = f"{prefix}/{i}", uuid.uuid4().hex
            for attempt in range(200):
                node = cluster.nodes[(i + attempt) % len(cluster.nodes)]
                try:
                    r = c.put(
                        f"{node.http}/v1/kv/{key}", params={"request_id": rid}, json={"i": i}, timeout=2
                    )
                except httpx.HTTPError:
                    time.sleep(0.02)
                    continue
                if r.status_code == 200:
                    acked[key] = r.json()["revision"]
                    break
                time.sleep(0.02)
            i += 1


def _all_items(c: httpx.Client, base: str, prefix: str) -> dict[str, tuple[object, int]]:
    out: dict[str, tuple[object, int]] = {}
    after = None
    while True:
        params = {"prefix": prefix, "limit": 1000, **({"after": after} if after else {})}
        page = c.get(f"{base}/v1/kv", params=params).json()
        out.update({i["key"]: (i["value"], i["revision"]) for i in page["items"]})
        if page["next"] is None:
            return out
        after = page["next"]


def test_leader_sigkill_under_load_loses_nothing(cluster: LocalCluster) -> None:
    leader = cluster.wait_healthy()
    acked: dict[str, int] = {}
    stop = threading.Event()
    writers = [threading.Thread(target=_writer, args=(cluster, acked, stop, f"load/w{w}")) for w in range(4)]
    for t in writers:
        t.start()
    try:
        eventually(lambda: len(acked) >= 50, timeout=30, message="the writers' first 50 acknowledged writes")
        cluster.kill(leader)
        killed_at = time.monotonic()
        before = len(acked)
        deadline = time.monotonic() + 20  # generous: the machine may be loaded; the bench measures speed
        while len(acked) < before + 50 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        for t in writers:
            t.join(30)
    assert len(acked) > before, "writes did not resume after the leader was killed"
    survivors = [n for n in cluster.nodes if n is not leader]
    top = max(acked.values())
    cluster.wait_applied(top, survivors)
    with _client(cluster) as c:
        views = {n.node_id: _all_items(c, n.http, "load/") for n in survivors}
        cluster.start_node(leader)
        cluster.wait_applied(top, [leader], timeout=30)
        views[leader.node_id] = _all_items(c, leader.http, "load/")
    for node_id, view in views.items():
        missing = set(acked) - set(view)
        assert not missing, f"{node_id} lost acknowledged writes: {sorted(missing)[:5]}"
        for key, rev in acked.items():
            assert view[key][1] == rev, f"{node_id}: {key} at {view[key][1]}, acknowledged at {rev}"
    first = next(iter(views.values()))
    assert all(v == first for v in views.values()), "replicas disagree"
    # Each acknowledged write took exactly one revision: no write applied twice.
    revs = sorted(r for _, r in first.values())
    assert len(revs) == len(set(revs))
    print(f"acked={len(acked)} before_kill={before} resume_window={time.monotonic() - killed_at:.1f}s")


def test_data_survives_sigkill_of_all_three(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    with _client(cluster) as c:
        revs = {}
        for i in range(50):
            r = c.put(f"{cluster.nodes[i % 3].http}/v1/kv/durable/{i}", json={"i": i})
            assert r.status_code == 200
            revs[f"durable/{i}"] = r.json()["revision"]
    for n in cluster.nodes:
        n.proc.send_signal(signal.SIGKILL)  # type: ignore[union-attr]
    for n in cluster.nodes:
        n.proc.wait()  # type: ignore[union-attr]
    cluster.start()
    with _client(cluster) as c:
        cluster.wait_applied(max(revs.values()))
        for n in cluster.nodes:
            view = _all_items(c, n.http, "durable/")
            assert {k: v[1] for k, v in view.items()} == revs
        # and the shard keeps accepting writes after the restart
        r = c.put(f"{cluster.nodes[0].http}/v1/kv/after", json=True)
        assert r.json()["revision"] == max(revs.values()) + 1


def test_graceful_restart_of_all_three(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    with _client(cluster) as c:
        rev = c.put(f"{cluster.nodes[0].http}/v1/kv/x", json="kept").json()["revision"]
    cluster.stop()
    cluster.start()
    with _client(cluster) as c:
        cluster.wait_applied(rev)
        assert all(_get(c, n.http, "x").json()["value"] == "kept" for n in cluster.nodes)


def test_follower_behind_the_compacted_log_catches_up_by_snapshot(cluster_factory) -> None:  # type: ignore[no-untyped-def]
    cluster: LocalCluster = cluster_factory(extra_args=["--snapshot-entries", "40"])
    leader = cluster.wait_healthy()
    lagging = next(n for n in cluster.nodes if n is not leader)
    cluster.kill(lagging)
    with _client(cluster) as c:
        revs = {}
        for i in range(200):
            node = next(n for n in cluster.nodes if n.alive())
            r = c.put(f"{node.http}/v1/kv/snap/{i:03d}", json={"i": i})
            assert r.status_code == 200, r.text
            revs[f"snap/{i:03d}"] = r.json()["revision"]
        c.delete(f"{cluster.nodes[0].http if cluster.nodes[0].alive() else leader.http}/v1/kv/snap/000")
        del revs["snap/000"]
        cluster.start_node(lagging)
        cluster.wait_applied(max(revs.values()) + 1, [lagging], timeout=30)
        view = _all_items(c, lagging.http, "snap/")
        assert {k: v[1] for k, v in view.items()} == revs
    assert "installing snapshot" in lagging.log_path.read_text()
