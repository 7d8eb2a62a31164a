"""Telemetry receivers for tests, each a real HTTP server on a free port that keeps what it
received: `OtlpCollector`, a tiny OTLP/HTTP collector that decodes the protobuf posts to
`/v1/traces` and `/v1/logs`, and `IngestionStub`, Application Insights' ingestion endpoint.

    with OtlpCollector() as collector:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = collector.endpoint
        ...
        eventually(lambda: collector.log_records(service="configdb-node"))
"""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return _attributes(v.kvlist_value.values)
    return getattr(v, kind)


def _attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in items if isinstance(kv, KeyValue)}


@dataclass
class Received:
    """One span or log record, flattened: its resource's and its own attributes."""

    resource: dict[str, Any]
    attributes: dict[str, Any]
    name: str = ""  # a span's name
    body: Any = None  # a log record's body
    trace_id: str = ""
    span_id: str = ""

    @property
    def service(self) -> str | None:
        return self.resource.get("service.name")


@dataclass
class OtlpCollector:
    spans: list[Received] = field(default_factory=list)
    logs: list[Received] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                collector.content_types.add(self.headers.get("Content-Type", ""))
                if self.path == "/v1/traces":
                    collector._traces(body)
                elif self.path == "/v1/logs":
                    collector._logs(body)
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> OtlpCollector:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _traces(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        with self._lock:
            for rs in request.resource_spans:
                resource = _attributes(rs.resource.attributes)
                for scope in rs.scope_spans:
                    for span in scope.spans:
                        self.spans.append(
                            Received(
                                resource,
                                _attributes(span.attributes),
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                            )
                        )

    def _logs(self, body: bytes) -> None:
        request = ExportLogsServiceRequest.FromString(body)
        with self._lock:
            for rl in request.resource_logs:
                resource = _attributes(rl.resource.attributes)
                for scope in rl.scope_logs:
                    for record in scope.log_records:
                        self.logs.append(
                            Received(
                                resource,
                                _attributes(record.attributes),
                                body=_value(record.body),
                                trace_id=record.trace_id.hex(),
                                span_id=record.span_id.hex(),
                            )
                        )

    def log_records(self, service: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.logs if service is None or r.service == service]

    def span_records(self, service: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.spans if service is None or r.service == service]


@dataclass
class IngestionStub:
    """Application Insights' ingestion endpoint, locally: a real HTTP server that accepts the
    Azure Monitor exporter's `POST /v2.1/track` (a JSON array of envelopes, maybe gzipped) and
    keeps the envelopes. Point a connection string's `IngestionEndpoint` at `endpoint`."""

    envelopes: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                items = json.loads(body) if self.path.endswith("/track") else []
                with stub._lock:
                    stub.envelopes.extend(items)
                answer = json.dumps(
                    {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def connection_string(self) -> str:
        key = "00000000-0000-0000-0000-000000000000"
        return f"InstrumentationKey={key};IngestionEndpoint={self.endpoint}"

    def __enter__(self) -> IngestionStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def messages(self) -> list[dict[str, Any]]:
        """The log records received: each envelope's tags and its baseData (message, properties)."""
        with self._lock:
            return [
                {"tags": e.get("tags", {}), **e.get("data", {}).get("baseData", {})}
                for e in self.envelopes
                if e.get("data", {}).get("baseType") == "MessageData"
            ]
