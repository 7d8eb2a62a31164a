"""Writes in flight at a follower when the leader is SIGKILLed finish soon after the next
election, each applied exactly once (the follower hands them to the new leader with their
request ids instead of waiting out its write timeout)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from dataclasses import dataclass

import httpx

from infra.local.configdb_cluster import LocalCluster, NodeProc
from tests.waiting import eventually

ROUNDS = 5
WRITERS = 8
SLACK = 2.0  # seconds after the new leader's election by which every in-flight write is answered


@dataclass
class Write:
    key: str
    started: float
    ended: float = 0.0
    status: int = 0
    revision: int = 0


def _writer(
    cluster: LocalCluster, node: NodeProc, prefix: str, stop: threading.Event, out: list[Write]
) -> None:
    """Write unique keys to `node` until `stop`; a 503 (nothing proposed) is retried with the
    same request id, any other answer is the write's outcome."""
    with httpx.Client(headers=cluster.headers(), timeout=15) as c:
        seq = 0
        while not stop.is_set():
            seq += 1
            w = Write(f"{prefix}/{seq}", time.monotonic())
            rid = uuid.uuid4().hex
            deadline = w.started + 15
            while True:
                try:
                    r = c.put(f"{node.http}/v1/kv/{w.key}", json={"seq": seq}, params={"request_id": rid})
                    w.status = r.status_code
                    if r.status_code == 200:
                        w.revision = r.json()["revision"]
                except httpx.HTTPError:
                    w.status = -1
                if w.status != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            w.ended = time.monotonic()
            out.append(w)


def _watch_election(cluster: LocalCluster, survivors: list[NodeProc], old_term: int) -> float:
    """The time a survivor first reports itself leader of a newer term."""

    def elected() -> float | None:
        for n in survivors:
            st = cluster.status(n, timeout=0.5)
            if st and st.get("role") == "leader" and int(st["term"]) > old_term:  # type: ignore[call-overload]
                return time.monotonic()
        return None

    return eventually(elected, timeout=30, interval=0.02, message="a new leader among the survivors")


def test_writes_in_flight_at_a_follower_survive_a_leader_sigkill(cluster: LocalCluster) -> None:
    rng = random.Random(7)
    leader = cluster.wait_healthy()
    st0 = cluster.status(leader)
    assert st0 is not None
    start_revision = int(st0["revision"])  # type: ignore[call-overload]
    acked: dict[str, int] = {}
    report = []
    for rnd in range(ROUNDS):
        leader = cluster.wait_healthy()
        st = cluster.status(leader)
        assert st is not None
        old_term = int(st["term"])  # type: ignore[call-overload]
        follower = rng.choice([n for n in cluster.nodes if n is not leader])
        survivors = [n for n in cluster.nodes if n is not leader]
        stop = threading.Event()
        writes: list[Write] = []
        threads = [
            threading.Thread(target=_writer, args=(cluster, follower, f"fo/r{rnd}/w{i}", stop, writes))
            for i in range(WRITERS)
        ]
        for t in threads:
            t.start()
        try:
            eventually(
                lambda writes=writes: sum(w.status == 200 for w in writes) >= 40,  # type: ignore[misc]
                timeout=30,
                message="the writers' first 40 acknowledged writes",
            )
            cluster.kill(leader)
            killed_at = time.monotonic()
            stop.set()  # no new writes; those already sent stay in flight
            elected_at = _watch_election(cluster, survivors, old_term)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        in_flight = [w for w in writes if w.ended > killed_at]
        assert in_flight, f"round {rnd}: no write was in flight at the kill"
        late = [w for w in in_flight if w.status != 200 or w.ended > elected_at + SLACK]
        report.append(
            f"round {rnd}: in flight {len(in_flight)}, election {elected_at - killed_at:.2f}s, "
            f"last answer {max((w.ended for w in in_flight), default=killed_at) - killed_at:.2f}s"
        )
        assert not late, (
            f"round {rnd}: {len(late)} of {len(in_flight)} in-flight writes not answered 200 within "
            f"{SLACK}s of the election ({elected_at - killed_at:.2f}s after the kill): "
            + ", ".join(f"{w.key} {w.status} at +{w.ended - killed_at:.2f}s" for w in late[:5])
        )
        for w in writes:
            assert w.status == 200, f"{w.key} answered {w.status}"
            acked[w.key] = w.revision
        cluster.start_node(leader)
    print("\n".join(report))
    assert acked
    top = max(acked.values())
    cluster.wait_applied(top, timeout=30)
    with httpx.Client(headers=cluster.headers(), timeout=10) as c:
        for node in cluster.nodes:
            items: dict[str, int] = {}
            after = None
            while True:
                params: dict[str, str | int] = {"prefix": "fo/", "limit": 10_000}
                if after is not None:
                    params["after"] = after
                page = c.get(f"{node.http}/v1/kv", params=params).json()
                items.update({i["key"]: i["revision"] for i in page["items"]})
                after = page["next"]
                if after is None:
                    break
            assert items == acked, f"{node.node_id} disagrees with the acknowledged writes"
            st = cluster.status(node)
            assert st is not None
            # One revision per acknowledged write: none applied twice, none applied unanswered.
            assert int(st["revision"]) - start_revision == len(acked)  # type: ignore[call-overload]
