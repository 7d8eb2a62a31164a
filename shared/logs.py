"""Structured logs: one JSON object per line on stderr, for every long-lived process.

Log with an event name as the message and the fields as record attributes:
`log_event(log, "sip_leg_ended", tenant_id=..., call_id=...)`, or
`log.info("sip_leg_ended", extra={...})` (with `extra=` a field may not take the name of a
`LogRecord` attribute: `name`, `msg`, `args`, `message`, `module`, ...; `log_event` writes such a
record as JSON text instead). The message becomes the `event` field and every field a field of
the line; as record attributes they are also what an OpenTelemetry log exporter sends as
attributes (Application Insights' customDimensions, see `shared.telemetry`). A message that is
itself a JSON object is still merged into the line, for old call sites.

Lines written inside a trace (`shared.tracing.use_traceparent`, the API's `RequestIds`, the queue
runtime, the edge's control API) carry its W3C `trace_id`; when an OpenTelemetry span is current
they carry its `trace_id` and `span_id`. `TraceFields` puts the same two on the record itself, for
the OpenTelemetry log handler.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)
"""The W3C trace id of the request or job being served; every log line written meanwhile carries it."""
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The client's own `X-Request-Id` for the request being served, when it gave one: lines carry it too."""


def trace_fields() -> dict[str, str]:
    """`trace_id` (and `span_id`) for a record written now: the current OpenTelemetry span's when
    one is active (only once something imported OpenTelemetry), else the `trace_id` variable's;
    and the client's `request_id` when one is set."""
    fields: dict[str, str] = {}
    otel_trace = sys.modules.get("opentelemetry.trace")
    if otel_trace is not None:
        context = otel_trace.get_current_span().get_span_context()
        if context.is_valid:
            fields["trace_id"] = format(context.trace_id, "032x")
            fields["span_id"] = format(context.span_id, "016x")
    current = trace_id.get()
    if current is not None and "trace_id" not in fields:
        fields["trace_id"] = current
    named = request_id.get()
    if named is not None:
        fields["request_id"] = named
    return fields


class TraceFields(logging.Filter):
    """Puts `trace_id` / `span_id` on each record (unless it has its own), for every handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in trace_fields().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, /, **fields: Any) -> None:
    """Log `event` with `fields` as record attributes (`extra=`): one JSON line
    {"event": event, **fields, ...} on stderr, and structured attributes for OpenTelemetry."""
    if not logger.isEnabledFor(level):
        return
    if _STANDARD.isdisjoint(fields):
        logger.log(level, event, extra=fields, stacklevel=2)
    else:  # a field named like a LogRecord attribute cannot be one: the same line, as JSON text
        text = orjson.dumps({"event": event, **fields}, default=str, option=_DUMP_OPTIONS).decode()
        logger.log(level, text)


# Field values as json.dumps wrote them: numpy numbers as numbers, non-string dict keys as strings.
_DUMP_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, static: dict[str, str] | None = None) -> None:
        super().__init__()
        self.static = static or {}

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            **self.static,
        }
        parsed: Any = None
        if message.startswith("{"):
            try:
                parsed = orjson.loads(message)
            except orjson.JSONDecodeError:
                parsed = None
        if isinstance(parsed, dict):
            doc.update(parsed)
        else:
            doc["event"] = message
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                if key == "event" and "event" in doc and doc["event"] != value:
                    doc["message"] = doc["event"]
                doc[key] = value
        for key, value in trace_fields().items():
            doc.setdefault(key, value)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str, option=_DUMP_OPTIONS).decode()


def configure_logging(level: int = logging.INFO, **static: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(static))
    handler.addFilter(TraceFields())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The Azure SDK logs every HTTP request and response at INFO: noise, and slow on hot paths.
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
