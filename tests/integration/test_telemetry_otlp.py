"""OpenTelemetry over OTLP/HTTP from a real ConfigDB node process to a real local collector
(tests/otlp_collector.py): log records arrive as protobuf with the node's service name and their
`extra=` fields as attributes; without the variable nothing is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.local.configdb_cluster import LocalCluster
from tests.otlp_collector import OtlpCollector
from tests.waiting import eventually

FAST = {"OTEL_BLRP_SCHEDULE_DELAY": "100", "OTEL_BSP_SCHEDULE_DELAY": "100"}


@pytest.fixture
def collector() -> Iterator[OtlpCollector]:
    with OtlpCollector() as c:
        yield c


def test_a_node_exports_its_log_records_to_the_collector(
    cluster_factory: type[LocalCluster], collector: OtlpCollector
) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, **FAST}
    cluster = cluster_factory(size=1, extra_env=env)  # type: ignore[call-arg]
    cluster.wait_healthy()

    def ready() -> list[object]:
        return [r for r in collector.log_records("configdb-node") if "ready" in str(r.body)]

    (record, *_) = eventually(ready, timeout=10, message="the node's 'ready' log record")
    assert record.resource["service.instance.id"] == "n1"
    on = eventually(
        lambda: [r for r in collector.log_records("configdb-node") if r.body == "telemetry_on"],
        timeout=5,
        message="the telemetry_on record",
    )
    assert on[0].attributes["backend"] == "otlp"
    assert on[0].attributes["service"] == "configdb-node"
    assert "application/x-protobuf" in collector.content_types


def test_nothing_is_sent_without_the_endpoint(
    cluster_factory: type[LocalCluster], collector: OtlpCollector
) -> None:
    cluster = cluster_factory(size=1, extra_env=FAST)  # type: ignore[call-arg]
    cluster.wait_healthy()
    log = cluster.nodes[0].log_path.read_text()
    assert "ready" in log and "telemetry_on" not in log
    assert collector.log_records() == [] and collector.span_records() == []
