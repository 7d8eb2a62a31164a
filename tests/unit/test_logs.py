"""shared.logs: JSON lines with `extra=` fields and the trace fields (the tracing context variable,
or the current OpenTelemetry span)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider

from shared.logs import JsonFormatter, TraceFields, log_event
from shared.tracing import use_traceparent

GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, list[logging.LogRecord]]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter({"service": "test"}))
    handler.addFilter(TraceFields())
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("test.logs")
    log.handlers[:] = [handler, Keep()]
    log.setLevel(logging.INFO)
    log.propagate = False
    yield log, out, records
    log.handlers.clear()


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_the_message_is_the_event_and_extra_fields_are_fields(capture) -> None:  # type: ignore[no-untyped-def]
    log, out, records = capture
    log.info("call_ended", extra={"tenant_id": "t1", "call_id": "c1", "seconds": 3})
    (line,) = lines(out)
    assert line["event"] == "call_ended"
    assert (line["tenant_id"], line["call_id"], line["seconds"]) == ("t1", "c1", 3)
    assert (line["level"], line["logger"], line["service"]) == ("info", "test.logs", "test")
    assert "trace_id" not in line and "span_id" not in line
    assert records[0].tenant_id == "t1"  # type: ignore[attr-defined]


def test_a_json_message_is_still_merged(capture) -> None:  # type: ignore[no-untyped-def]
    log, out, _ = capture
    log.info(json.dumps({"event": "old_style", "call_id": "c2"}))
    (line,) = lines(out)
    assert (line["event"], line["call_id"]) == ("old_style", "c2")


def test_lines_in_a_trace_carry_its_id_as_a_field_and_a_record_attribute(capture) -> None:  # type: ignore[no-untyped-def]
    log, out, records = capture
    with use_traceparent(GOOD):
        log.info("inside", extra={"tenant_id": "t1"})
    log.info("outside")
    inside, outside = lines(out)
    assert inside["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert records[0].trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"  # type: ignore[attr-defined]
    assert "trace_id" not in outside and not hasattr(records[1], "trace_id")


def test_an_explicit_trace_id_is_kept(capture) -> None:  # type: ignore[no-untyped-def]
    log, out, _ = capture
    with use_traceparent(GOOD):
        log.info("replayed", extra={"trace_id": "a" * 32})
    assert lines(out)[0]["trace_id"] == "a" * 32


def test_the_current_opentelemetry_span_gives_trace_and_span_ids(capture) -> None:  # type: ignore[no-untyped-def]
    log, out, records = capture
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        log.info("in_span")
    context = span.get_span_context()
    (line,) = lines(out)
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert records[0].span_id == line["span_id"]  # type: ignore[attr-defined]


def test_log_event_puts_the_fields_on_the_record(capture) -> None:  # type: ignore[no-untyped-def]
    log, out, records = capture
    log_event(log, "leg_ended", logging.WARNING, tenant_id="t1", call_id="c1", hz=np.float64(0.5), by={1: 2})
    (line,) = lines(out)
    assert line["event"] == "leg_ended" and line["level"] == "warning"
    assert (line["tenant_id"], line["call_id"], line["hz"], line["by"]) == ("t1", "c1", 0.5, {"1": 2})
    assert records[0].getMessage() == "leg_ended"
    assert records[0].call_id == "c1"  # type: ignore[attr-defined]


def test_log_event_keeps_a_field_named_like_a_record_attribute(capture) -> None:  # type: ignore[no-untyped-def]
    log, out, _ = capture
    log_event(log, "prompt_loaded", name="welcome", module="ivr")
    (line,) = lines(out)
    assert (line["event"], line["name"], line["module"]) == ("prompt_loaded", "welcome", "ivr")


def test_log_event_skips_disabled_levels(capture) -> None:  # type: ignore[no-untyped-def]
    log, out, _ = capture
    log_event(log, "noise", logging.DEBUG, call_id="c1")
    assert out.getvalue() == ""
