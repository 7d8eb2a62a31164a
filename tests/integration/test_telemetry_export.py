"""Telemetry from a real ConfigDB node process to real local receivers (tests/otlp_collector.py):
over OTLP/HTTP to a collector (log records as protobuf, with the node's service name and their
`extra=` fields as attributes), and to an Application Insights ingestion stub through the Azure
Monitor exporter (the node's role name, the fields as customDimensions); without either setting
nothing is sent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.local.configdb_cluster import LocalCluster
from tests.otlp_collector import IngestionStub, OtlpCollector
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


def test_a_node_exports_its_log_records_to_application_insights(cluster_factory: type[LocalCluster]) -> None:
    with IngestionStub() as ingestion:
        env = {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": ingestion.connection_string(),
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",  # no calls to Microsoft's endpoint
            **FAST,
        }
        cluster = cluster_factory(size=1, extra_env=env)  # type: ignore[call-arg]
        cluster.wait_healthy()
        on = eventually(
            lambda: [m for m in ingestion.messages() if m.get("message") == "telemetry_on"],
            timeout=10,
            message="the telemetry_on record at the ingestion endpoint",
        )
        assert on[0]["properties"]["backend"] == "azure-monitor"
        assert on[0]["tags"]["ai.cloud.role"] == "configdb-node"
        assert on[0]["tags"]["ai.cloud.roleInstance"] == "n1"
