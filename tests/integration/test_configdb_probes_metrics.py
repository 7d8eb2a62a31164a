"""`/healthz`, `/readyz` and `/metrics` of real ConfigDB nodes, answered without a token."""

from __future__ import annotations

import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.local.configdb_cluster import LocalCluster, NodeProc
from tests.waiting import eventually

from .streamwire import StreamConn


def scrape(node: NodeProc) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the node's /metrics, by (name, sorted labels); fetched without a token."""
    r = httpx.get(f"{node.http}/metrics", timeout=2)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for fam in text_string_to_metric_families(r.text)
        for s in fam.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def role_of(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> str:
    roles = [dict(lbl)["role"] for (n, lbl), v in samples.items() if n == "configdb_role" and v == 1]
    assert len(roles) == 1, roles
    return roles[0]


def test_metrics_follow_roles_terms_writes_and_watchers(cluster: LocalCluster) -> None:
    leader = cluster.wait_healthy()
    before = {n.node_id: scrape(n) for n in cluster.nodes}
    for node in cluster.nodes:
        samples = before[node.node_id]
        assert role_of(samples) == ("leader" if node is leader else "follower")
        assert value(samples, "configdb_leader_known") == 1
        assert value(samples, "configdb_leader_changes_total") >= 1
    assert len({value(s, "configdb_term") for s in before.values()}) == 1, "terms differ"

    watch = StreamConn(leader.stream_port, {"token": cluster.token, "op": "watch", "prefix": "m/"})
    try:
        eventually(
            lambda: value(scrape(leader), "configdb_watchers") == 1, message="the watcher in the gauge"
        )
        with httpx.Client(headers=cluster.headers(), timeout=5) as c:
            for i in range(20):
                r = c.put(f"{leader.http}/v1/kv/m/{i}", json={"i": i})
                assert r.status_code == 200, r.text
            revision = r.json()["revision"]
        kinds = []
        while "events" not in kinds:  # idle progress frames may come first
            kinds.append(watch.frame()["type"])
        assert set(kinds) <= {"progress", "events"}, kinds
    finally:
        watch.close()
    cluster.wait_applied(revision)

    for node in cluster.nodes:
        old, new = before[node.node_id], scrape(node)
        for name in ("configdb_commit_index", "configdb_applied_index"):
            assert value(new, name) >= value(old, name) + 20, (node.node_id, name)
        assert value(new, "configdb_applied_index") <= value(new, "configdb_commit_index")
        assert value(new, "configdb_fsync_seconds_count") >= value(old, "configdb_fsync_seconds_count") + 1
        assert value(new, "configdb_fsync_seconds_sum") > 0
    eventually(lambda: value(scrape(leader), "configdb_watchers") == 0, message="the closed watch to go")


@pytest.mark.parametrize("left", ["leader", "follower"])
def test_probes_answer_without_a_token_and_readyz_fails_without_quorum(
    cluster: LocalCluster, left: str
) -> None:
    """The node left alone: a leader steps down (check-quorum), a follower campaigns in vain."""
    leader = cluster.wait_healthy()
    for node in cluster.nodes:
        r = httpx.get(f"{node.http}/healthz", timeout=2)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        r = httpx.get(f"{node.http}/readyz", timeout=2)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "ready"
        # the data routes still want a token
        assert httpx.get(f"{node.http}/v1/status", timeout=2).status_code == 401

    alone = leader if left == "leader" else next(n for n in cluster.nodes if n is not leader)
    for node in cluster.nodes:
        if node is not alone:
            cluster.kill(node)
    cut_off = time.monotonic()
    answer = eventually(
        lambda: (r := httpx.get(f"{alone.http}/readyz", timeout=3)).status_code == 503 and r,
        timeout=10,
        message="readyz 503 on the node cut off from quorum",
    )
    assert time.monotonic() - cut_off < 5
    assert answer.headers["content-type"] == "application/problem+json"
    assert "no known leader" in answer.json()["detail"]
    assert httpx.get(f"{alone.http}/healthz", timeout=2).status_code == 200  # alive, not ready
    assert role_of(scrape(alone)) != "leader"
