"""Concurrent reads, writes and compare-and-sets under leader kills are linearizable."""

from __future__ import annotations

import random
import threading
import time
import uuid

import httpx

from infra.local.configdb_cluster import LocalCluster
from tests.tools.linearizability import PendingOp, Recorder, check
from tests.waiting import eventually

KEYS = [f"lin/{i}" for i in range(4)]


def _attempts(
    cluster: LocalCluster,
    c: httpx.Client,
    method: str,
    key: str,
    rng: random.Random,
    deadline: float,
    **kwargs: object,
) -> httpx.Response | None:
    """Send one logical operation, retrying across nodes; None when no definite answer came."""
    while time.monotonic() < deadline:
        node = rng.choice([n for n in cluster.nodes if n.alive()] or cluster.nodes)
        try:
            r = c.request(method, f"{node.http}/v1/kv/{key}", timeout=1.5, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError:
            time.sleep(0.02)
            continue
        if r.status_code < 500:
            return r
        time.sleep(0.02)
    return None


def _client_loop(cluster: LocalCluster, rec: Recorder, cid: int, stop: threading.Event) -> None:
    rng = random.Random(cid)
    known: dict[str, int] = {}
    with httpx.Client(headers=cluster.headers()) as c:
        while not stop.is_set():
            key = rng.choice(KEYS)
            kind = rng.random()
            deadline = time.monotonic() + 3
            op: PendingOp
            if kind < 0.4:
                with rec.read(cid, key) as op:
                    r = _attempts(cluster, c, "GET", key, rng, deadline, params={"consistent": "true"})
                    if r is None:
                        op.unknown()
                    elif r.status_code == 404:
                        op.absent()
                    else:
                        body = r.json()
                        known[key] = body["revision"]
                        op.found(body["value"], body["revision"])
            elif kind < 0.7:
                value = f"{cid}-{uuid.uuid4().hex[:8]}"
                with rec.write(cid, key, value) as op:
                    r = _attempts(
                        cluster,
                        c,
                        "PUT",
                        key,
                        rng,
                        deadline,
                        json=value,
                        params={"request_id": uuid.uuid4().hex},
                    )
                    if r is None:
                        op.unknown()
                    else:
                        op.ok(r.json()["revision"])
            else:
                value = f"{cid}-{uuid.uuid4().hex[:8]}"
                prev = known.get(key, 0)
                with rec.cas(cid, key, value, prev) as op:
                    r = _attempts(
                        cluster,
                        c,
                        "PUT",
                        key,
                        rng,
                        deadline,
                        json=value,
                        params={"prev_revision": prev, "request_id": uuid.uuid4().hex},
                    )
                    if r is None:
                        op.unknown()
                    elif r.status_code == 409:
                        known[key] = r.json()["revision"]
                        op.failed(r.json()["revision"])
                    else:
                        known[key] = r.json()["revision"]
                        op.ok(r.json()["revision"])


def test_history_under_leader_kills_is_linearizable(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    rec = Recorder()
    stop = threading.Event()
    clients = [threading.Thread(target=_client_loop, args=(cluster, rec, i, stop)) for i in range(6)]
    for t in clients:
        t.start()

    def progress(ops: int) -> None:
        """Let the clients get `ops` more definite answers (a leader serves them again)."""
        target = rec.answered() + ops
        eventually(lambda: rec.answered() >= target, timeout=60, message=f"{ops} more answered operations")

    try:
        for _ in range(2):
            progress(100)
            leader = cluster.leader()
            if leader is not None:
                cluster.kill(leader)
                progress(50)  # answered by the next leader
                cluster.start_node(leader)
        progress(100)
    finally:
        stop.set()
        for t in clients:
            t.join(30)
    history = rec.history()
    result = check(history)
    print(f"ops={len(history)} keys={result.checked_keys} violations={len(result.violations)}")
    assert len(history) > 200
    result.assert_ok()
