"""A node's Prometheus metrics (`GET /metrics`, text exposition format), one registry per node.

Read at scrape time from the node itself: `configdb_role{role=...}` (1 for the node's current
Raft role, 0 for the others), `configdb_term`, `configdb_commit_index`, `configdb_applied_index`,
`configdb_leader_known` and `configdb_watchers` (live update listeners). Counted as they happen:
`configdb_leader_changes_total` (each time the leader this node knows changes, including to
none), `configdb_watchers_cut_off_total` (listeners disconnected for being slow, or because a
snapshot install made their history jump) and `configdb_fsync_seconds` (each synced write of the
Raft log and of the state machine's LevelDB).

`/metrics` is served without a token (http_api.PUBLIC_PATHS): it holds no key, value or tenant
data, only the node's own Raft figures, and a Prometheus scraper (or Azure Monitor's) then needs
no ConfigDB credential; the node's HTTP port is reachable only on the private network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from .raft.types import Role

CONTENT_TYPE = CONTENT_TYPE_LATEST
FSYNC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass(frozen=True)
class NodeGauges:
    """What the node is right now, read at each scrape."""

    role: Role
    term: int
    commit_index: int
    applied_index: int
    leader_known: bool
    watchers: int


class _GaugeCollector(Collector):
    def __init__(self, read: Callable[[], NodeGauges]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        g = self.read()
        role = GaugeMetricFamily("configdb_role", "1 for the node's current Raft role.", labels=["role"])
        for r in Role:
            role.add_metric([r.value], 1.0 if r is g.role else 0.0)
        yield role
        yield GaugeMetricFamily("configdb_term", "The node's current Raft term.", value=g.term)
        yield GaugeMetricFamily(
            "configdb_commit_index", "The highest log index this node knows committed.", value=g.commit_index
        )
        yield GaugeMetricFamily(
            "configdb_applied_index",
            "The highest log index applied to this node's state machine.",
            value=g.applied_index,
        )
        yield GaugeMetricFamily(
            "configdb_leader_known", "1 while the node knows a leader of its term.", value=int(g.leader_known)
        )
        yield GaugeMetricFamily(
            "configdb_watchers", "Live update listeners on the stream port.", value=g.watchers
        )


class NodeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.leader_changes = Counter(
            "configdb_leader_changes", "Changes of the leader this node knows (to none too).", registry=r
        )
        self.watchers_cut_off = Counter(
            "configdb_watchers_cut_off",
            "Update listeners disconnected for being slow or by a snapshot install.",
            registry=r,
        )
        self.fsync_seconds = Histogram(
            "configdb_fsync_seconds",
            "Duration of each synced LevelDB write (Raft log and state machine).",
            buckets=FSYNC_BUCKETS,
            registry=r,
        )

    def read_gauges(self, read: Callable[[], NodeGauges]) -> None:
        """Register the scrape-time gauges (once, by the node)."""
        self.registry.register(_GaugeCollector(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)
