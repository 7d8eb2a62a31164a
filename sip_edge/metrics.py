"""The edge's Prometheus metrics, in one registry per process.

`/metrics` serves `EdgeMetrics.render()` in the Prometheus text format. Calls per second is
`rate(edge_calls_total[1m])` on the Prometheus side; the counter is what the edge exports.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class EdgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active_calls = Gauge("edge_active_calls", "Calls in progress on this edge process.", registry=r)
        self.active_legs = Gauge("edge_active_legs", "SIP call legs (audio slots) in use.", registry=r)
        self.calls = Counter("edge_calls", "Calls received, by how they ended.", ["disposition"], registry=r)
        self.failures = Counter("edge_call_failures", "Failed calls, by reason.", ["reason"], registry=r)
        self.rejected_invites = Counter(
            "edge_rejected_invites", "INVITEs answered with an error, by SIP status.", ["status"], registry=r
        )
        self.setup_seconds = Histogram(
            "edge_answer_seconds",
            "INVITE received to 200 OK sent.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0),
            registry=r,
        )
        self.config_revision = Gauge("edge_config_revision", "Last ConfigDB revision applied.", registry=r)
        self.draining = Gauge("edge_draining", "1 while the edge refuses new calls on shutdown.", registry=r)
        self.upload_spooled = Gauge("edge_upload_spooled", "Media files waiting for upload.", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
