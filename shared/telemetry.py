"""OpenTelemetry for a process: traces and logs to Application Insights or to an OTLP collector.

`setup_telemetry(service_name, settings)` picks one backend from the settings:

- `APPLICATIONINSIGHTS_CONNECTION_STRING` set: Application Insights. In the Function App
  (`distro=True`, the `functions` dependency group) the Azure Monitor distro,
  `azure.monitor.opentelemetry.configure_azure_monitor`, which also instruments FastAPI, httpx
  and the Azure SDK; in the edge and the nodes the SDK with the Azure Monitor trace and log
  exporters (azure-monitor-opentelemetry-exporter). Log records go with their
  `extra=` fields as customDimensions.
- `OTEL_EXPORTER_OTLP_ENDPOINT` set: the OpenTelemetry SDK with the OTLP/HTTP (protobuf)
  exporters, spans to `<endpoint>/v1/traces` and log records to `<endpoint>/v1/logs`. Installed
  with the SIP edge and the ConfigDB nodes; the standard `OTEL_*` variables (batch delays,
  headers, sampler) apply.
- neither: nothing is imported or configured, so a local run or a test pays nothing.

Either way the process's root logger gains a handler that turns each log record into an
OpenTelemetry log record (its message as the body, its `extra=` fields as attributes, the current
span's trace and span ids), next to the JSON lines on stderr, and `shared.tracing` starts making
its trace contexts OpenTelemetry contexts. Call it after `shared.logs.configure_logging` (which
replaces the root logger's handlers) and, in the Function App, before the FastAPI app is built
(so it is instrumented).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Literal, Protocol

from pydantic import SecretStr

from shared import tracing
from shared.logs import TraceFields

log = logging.getLogger("shared.telemetry")

Backend = Literal["azure-monitor", "otlp"]


class TelemetrySettings(Protocol):
    @property
    def applicationinsights_connection_string(self) -> SecretStr | None: ...

    @property
    def otel_exporter_otlp_endpoint(self) -> str | None: ...


_configured: Backend | None = None


def telemetry_backend(settings: TelemetrySettings) -> Backend | None:
    """Which exporter the settings ask for: Azure Monitor wins when both are set."""
    connection = settings.applicationinsights_connection_string
    if connection is not None and connection.get_secret_value().strip():
        return "azure-monitor"
    endpoint = settings.otel_exporter_otlp_endpoint
    if endpoint is not None and endpoint.strip():
        return "otlp"
    return None


def otlp_urls(endpoint: str) -> tuple[str, str]:
    """The OTLP/HTTP traces and logs URLs under a base endpoint (as the OTLP spec derives them)."""
    base = endpoint.strip().rstrip("/")
    return f"{base}/v1/traces", f"{base}/v1/logs"


def setup_telemetry(
    service_name: str, settings: TelemetrySettings, instance: str | None = None, *, distro: bool = False
) -> Backend | None:
    """Configure OpenTelemetry for this process once; returns the backend, or None when off.

    `service_name` and `instance` (e.g. a ConfigDB node id) name the process in every span and
    log record (the resource's `service.name` and `service.instance.id`). `distro`: for
    Application Insights, use the Azure Monitor distro with its instrumentations (the Function
    App) rather than the plain exporters."""
    global _configured
    backend = telemetry_backend(settings)
    if backend is None or _configured is not None:
        return _configured if backend is not None else None
    if backend == "azure-monitor":
        connection = settings.applicationinsights_connection_string
        assert connection is not None
        _azure_monitor(service_name, instance, connection.get_secret_value().strip(), distro)
    else:
        endpoint = settings.otel_exporter_otlp_endpoint
        assert endpoint is not None
        _otlp(service_name, instance, endpoint)
    _configured = backend
    tracing.enable_opentelemetry()
    log.info("telemetry_on", extra={"backend": backend, "service": service_name})
    return backend


def _resource(service_name: str, instance: str | None) -> Any:
    from opentelemetry.sdk.resources import SERVICE_INSTANCE_ID, SERVICE_NAME, Resource

    attributes = {SERVICE_NAME: service_name}
    if instance:
        attributes[SERVICE_INSTANCE_ID] = instance
    return Resource.create(attributes)


def _azure_monitor(service_name: str, instance: str | None, connection_string: str, distro: bool) -> None:
    """The distro when asked for and installed (the Function App: it also instruments FastAPI,
    httpx and the Azure SDK), else the SDK with the Azure Monitor exporters (the edge, the nodes)."""
    configure_azure_monitor = None
    if distro:
        with contextlib.suppress(ImportError):
            from azure.monitor.opentelemetry import configure_azure_monitor
    if configure_azure_monitor is None:
        try:
            from azure.monitor.opentelemetry.exporter import (
                AzureMonitorLogExporter,
                AzureMonitorTraceExporter,
            )
        except ImportError as exc:
            raise SystemExit(
                "APPLICATIONINSIGHTS_CONNECTION_STRING is set but neither azure-monitor-opentelemetry "
                "nor azure-monitor-opentelemetry-exporter is installed in this process."
            ) from exc
        _sdk_pipeline(
            _resource(service_name, instance),
            AzureMonitorTraceExporter(connection_string=connection_string),
            AzureMonitorLogExporter(connection_string=connection_string),
        )
        return
    configure_azure_monitor(
        connection_string=connection_string,
        resource=_resource(service_name, instance),
        logger_name="",  # the root logger: every record, with its extra= fields as customDimensions
        enable_live_metrics=False,
    )
    for handler in logging.getLogger().handlers:
        if type(handler).__module__.startswith("opentelemetry"):
            handler.addFilter(_not_the_exporters)
            handler.addFilter(TraceFields())


def _otlp(service_name: str, instance: str | None, endpoint: str) -> None:
    try:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise SystemExit(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed in this "
            "process: unset it, or install opentelemetry-exporter-otlp-proto-http."
        ) from exc
    traces_url, logs_url = otlp_urls(endpoint)
    _sdk_pipeline(
        _resource(service_name, instance),
        OTLPSpanExporter(endpoint=traces_url),
        OTLPLogExporter(endpoint=logs_url),
    )


def _sdk_pipeline(resource: Any, span_exporter: Any, log_exporter: Any) -> None:
    """The SDK's tracer and logger providers, batching to the two exporters, and a root-logger
    handler that turns every log record into an OpenTelemetry one. Flushed at exit."""
    from opentelemetry import _logs, trace
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    _logs.set_logger_provider(logger_provider)
    handler = LoggingHandler(level=logging.NOTSET, logger_provider=logger_provider)
    handler.addFilter(_not_the_exporters)
    handler.addFilter(TraceFields())
    logging.getLogger().addHandler(handler)


def _not_the_exporters(record: logging.LogRecord) -> bool:
    """The exporters' own records (a collector down, each HTTP request of the Azure SDK) go to
    stderr only, not back into the exporter."""
    return not record.name.startswith(("opentelemetry", "urllib3", "requests", "azure.core", "azure.monitor"))
