"""W3C trace context (`traceparent`) carried from an API request to a queue message to an edge call.

One trace id names a piece of work end to end: the API's `RequestIds` middleware takes the
client's `traceparent` header (or starts a trace), the bus adapters put `current_traceparent()`
into each queue message, the queue runtime restores it with `use_traceparent`, the edge-control
client sends it as a header and the edge's control API restores it for the call it places.

Inside `use_traceparent(...)` every log line carries the trace id (`shared.logs.trace_id`). When
OpenTelemetry is configured (`shared.telemetry.setup_telemetry`), the trace context is also made
the current OpenTelemetry context, so spans and exported logs join the same trace; without it (local
runs, tests) this module never imports OpenTelemetry and costs a context variable.

Format (version 00): `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lower case, neither
id all zeros.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from typing import Any

from shared.logs import trace_id as log_trace_id

_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

_current: ContextVar[str | None] = ContextVar("traceparent", default=None)
_otel_enabled = False


def parse_traceparent(traceparent: object) -> tuple[str, str] | None:
    """(trace id, parent id) of a valid version-00 `traceparent`, else None."""
    if not isinstance(traceparent, str):
        return None
    match = _TRACEPARENT.fullmatch(traceparent.strip())
    if match is None:
        return None
    trace, parent, _flags = match.groups()
    if trace == _ZERO_TRACE or parent == _ZERO_SPAN:
        return None
    return trace, parent


def format_traceparent(trace: str, parent: str, sampled: bool = True) -> str:
    return f"00-{trace}-{parent}-{'01' if sampled else '00'}"


def new_traceparent() -> str:
    """A fresh trace: random trace id and parent id, sampled."""
    return format_traceparent(secrets.token_hex(16), secrets.token_hex(8))


def enable_opentelemetry() -> None:
    """Called by `shared.telemetry.setup_telemetry` once an OpenTelemetry SDK is configured."""
    global _otel_enabled
    _otel_enabled = True


def opentelemetry_enabled() -> bool:
    return _otel_enabled


def current_traceparent() -> str | None:
    """The current trace context as a `traceparent` to send on, or None outside any trace.

    With OpenTelemetry configured and a span active, it names that span (so the receiver's span is
    its child); otherwise it is the value made current by `use_traceparent`."""
    return span_traceparent() or _current.get()


def span_traceparent() -> str | None:
    """The current OpenTelemetry span as a `traceparent`; None when OpenTelemetry is not configured
    or no span is active."""
    if not _otel_enabled:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    trace_hex, span_hex = format(context.trace_id, "032x"), format(context.span_id, "016x")
    return format_traceparent(trace_hex, span_hex, bool(context.trace_flags & 1))


def adopt_traceparent(traceparent: str | None) -> str:
    """Make `traceparent` (a fresh trace if it is None or invalid) current for the rest of the
    current context, and return it: for a per-request task whose last lines (an error handler
    outside the middleware) must still carry the trace id. Prefer `use_traceparent`."""
    if parse_traceparent(traceparent) is None:
        traceparent = new_traceparent()
    assert traceparent is not None
    _current.set(traceparent)
    log_trace_id.set(traceparent[3:35])
    return traceparent


def current_trace_id() -> str | None:
    parsed = parse_traceparent(current_traceparent())
    return parsed[0] if parsed else None


@contextmanager
def use_traceparent(
    traceparent: str | None, span_name: str | None = None, kind: str = "internal"
) -> Iterator[str]:
    """Make `traceparent` the current trace context (a fresh trace if it is None or invalid).

    Sets `shared.logs.trace_id` to its trace id for the block, and yields the trace id. With
    OpenTelemetry configured, the context is attached, and when `span_name` is given a span of that
    name and `kind` ("server", "consumer", "client", "producer", "internal") runs as its child (as
    a new trace's root span when there is no valid parent)."""
    given = traceparent if parse_traceparent(traceparent) is not None else None
    with ExitStack() as stack:
        if _otel_enabled:
            stack.enter_context(_otel_context(given, span_name, kind))
        current = span_traceparent() or given or new_traceparent()
        trace = current[3:35]
        tokens = (_current.set(current), log_trace_id.set(trace))
        try:
            yield trace
        finally:
            log_trace_id.reset(tokens[1])
            _current.reset(tokens[0])


@contextmanager
def _otel_context(traceparent: str | None, span_name: str | None, kind: str) -> Iterator[None]:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if traceparent is None and span_name is None:
        traceparent = new_traceparent()  # no span to root a fresh trace: a made-up remote parent
    carrier: dict[str, Any] = {"traceparent": traceparent} if traceparent else {}
    # An empty context has no span: the span started in it roots a new trace.
    parent = TraceContextTextMapPropagator().extract(carrier, context=otel_context.Context())
    token = otel_context.attach(parent)
    try:
        if span_name is None:
            yield
        else:
            span_kind = getattr(trace.SpanKind, kind.upper(), trace.SpanKind.INTERNAL)
            with trace.get_tracer("cloudpbx").start_as_current_span(span_name, kind=span_kind):
                yield
    finally:
        otel_context.detach(token)
