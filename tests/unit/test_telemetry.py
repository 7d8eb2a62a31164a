"""shared.telemetry: which backend the settings select, and the OTLP URLs (no export here:
tests/integration/test_telemetry_otlp.py runs a process against a local collector)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from shared.settings import NodeEnvironment, Settings
from shared.telemetry import otlp_urls, setup_telemetry, telemetry_backend

CONNECTION = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x.example/"


def settings(**values: object) -> Settings:
    return Settings(pbx_environment="local", **values)  # type: ignore[arg-type]


def test_off_when_neither_is_set() -> None:
    assert telemetry_backend(settings()) is None
    assert telemetry_backend(NodeEnvironment()) is None
    assert setup_telemetry("test", settings()) is None


def test_application_insights_when_its_connection_string_is_set() -> None:
    s = settings(applicationinsights_connection_string=SecretStr(CONNECTION))
    assert telemetry_backend(s) == "azure-monitor"


def test_otlp_when_an_endpoint_is_set() -> None:
    assert telemetry_backend(settings(otel_exporter_otlp_endpoint="http://127.0.0.1:4318")) == "otlp"
    assert telemetry_backend(NodeEnvironment(otel_exporter_otlp_endpoint="http://collector:4318")) == "otlp"


def test_application_insights_wins_when_both_are_set() -> None:
    s = settings(
        applicationinsights_connection_string=SecretStr(CONNECTION),
        otel_exporter_otlp_endpoint="http://127.0.0.1:4318",
    )
    assert telemetry_backend(s) == "azure-monitor"


def test_blank_values_are_off() -> None:
    assert telemetry_backend(settings(applicationinsights_connection_string=SecretStr("  "))) is None


def test_the_settings_read_the_standard_variable_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", CONNECTION)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector.example:4318/")
    s = settings()
    assert s.applicationinsights_connection_string is not None
    assert s.applicationinsights_connection_string.get_secret_value() == CONNECTION
    assert NodeEnvironment().otel_exporter_otlp_endpoint == "https://collector.example:4318/"


def test_an_endpoint_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(ValidationError):
        NodeEnvironment(otel_exporter_otlp_endpoint="collector:4318")


@pytest.mark.parametrize(
    ("endpoint", "traces", "logs"),
    [
        ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces", "http://127.0.0.1:4318/v1/logs"),
        ("https://c.example/otlp/ ", "https://c.example/otlp/v1/traces", "https://c.example/otlp/v1/logs"),
    ],
)
def test_otlp_urls(endpoint: str, traces: str, logs: str) -> None:
    assert otlp_urls(endpoint) == (traces, logs)
