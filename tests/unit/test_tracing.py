"""shared.tracing: W3C traceparent parsing and the current trace context, without OpenTelemetry."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared import tracing
from shared.logs import trace_id
from shared.tracing import current_traceparent, new_traceparent, parse_traceparent, use_traceparent

ROOT = Path(__file__).resolve().parents[2]
GOOD = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_parses_a_valid_traceparent() -> None:
    assert parse_traceparent(GOOD) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert parse_traceparent(GOOD[:-2] + "00") == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "",
        42,
        "garbage",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # unknown version
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",  # short parent id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",  # short flags
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
    ],
)
def test_rejects_invalid_traceparents(bad: object) -> None:
    assert parse_traceparent(bad) is None


def test_new_traceparents_are_valid_and_distinct() -> None:
    first, second = new_traceparent(), new_traceparent()
    assert parse_traceparent(first) is not None
    assert first.endswith("-01")
    assert parse_traceparent(first) != parse_traceparent(second)


def test_use_traceparent_makes_it_current_and_sets_the_log_trace_id() -> None:
    assert current_traceparent() is None
    assert trace_id.get() is None
    with use_traceparent(GOOD) as tid:
        assert tid == "4bf92f3577b34da6a3ce929d0e0e4736"
        assert current_traceparent() == GOOD
        assert trace_id.get() == tid
    assert current_traceparent() is None
    assert trace_id.get() is None


@pytest.mark.parametrize("given", [None, "not-a-traceparent", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"])
def test_an_invalid_or_missing_traceparent_starts_a_fresh_trace(given: str | None) -> None:
    with use_traceparent(given) as tid:
        current = current_traceparent()
        assert current is not None and current != given
        assert parse_traceparent(current) is not None
        assert current[3:35] == tid == trace_id.get()
    assert current_traceparent() is None


def test_nested_contexts_restore_the_outer_one() -> None:
    with use_traceparent(GOOD):
        with use_traceparent(None) as inner:
            assert trace_id.get() == inner != GOOD[3:35]
        assert current_traceparent() == GOOD
        assert trace_id.get() == GOOD[3:35]


def test_tasks_created_inside_the_context_inherit_it() -> None:
    async def child() -> str | None:
        await asyncio.sleep(0)
        return current_traceparent()

    async def main() -> tuple[str | None, str | None]:
        with use_traceparent(GOOD):
            task = asyncio.create_task(child())
        return await task, current_traceparent()

    assert asyncio.run(main()) == (GOOD, None)


def test_opentelemetry_is_not_imported_unless_enabled() -> None:
    code = (
        "import sys\n"
        "from shared.tracing import current_traceparent, use_traceparent\n"
        f"with use_traceparent({GOOD!r}):\n"
        f"    assert current_traceparent() == {GOOD!r}\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
    assert tracing.opentelemetry_enabled() is False


OTEL_SCRIPT = """
import json, logging
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from shared import tracing
from shared.logs import trace_fields

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
tracing.enable_opentelemetry()
out = {}
with tracing.use_traceparent(GIVEN, span_name="edge click-to-call", kind="server") as tid:
    out["continued"] = [tid, tracing.current_traceparent(), trace_fields()]
with tracing.use_traceparent(GIVEN) as tid:
    out["attached"] = [tid, tracing.current_traceparent()]
with tracing.use_traceparent("bad", span_name="edge inbound call", kind="server") as tid:
    out["fresh"] = [tid, tracing.current_traceparent()]
out["after"] = tracing.current_traceparent()
out["spans"] = [
    [s.name, s.kind.name, format(s.context.trace_id, "032x"), format(s.context.span_id, "016x"),
     format(s.parent.span_id, "016x") if s.parent else None]
    for s in exporter.get_finished_spans()
]
print(json.dumps(out))
"""


def test_with_opentelemetry_the_trace_context_is_the_current_span() -> None:
    code = f"GIVEN = {GOOD!r}\n" + OTEL_SCRIPT
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    trace, parent = GOOD[3:35], GOOD[36:52]
    continued, fresh = out["spans"]
    name, kind, span_trace, span_id, span_parent = continued
    fresh_name, _, fresh_trace, fresh_id, fresh_parent = fresh
    # a span for the block, child of the caller's span, in the caller's trace
    assert (name, kind, span_trace, span_parent) == ("edge click-to-call", "SERVER", trace, parent)
    tid, current, fields = out["continued"]
    assert tid == trace and current == f"00-{trace}-{span_id}-01"
    assert fields == {"trace_id": trace, "span_id": span_id}
    # without a span name the caller's context is attached as it is
    assert out["attached"] == [trace, GOOD]
    # an invalid parent: the span roots a new trace
    assert fresh_name == "edge inbound call" and fresh_parent is None and fresh_trace != trace
    assert out["fresh"] == [fresh_trace, f"00-{fresh_trace}-{fresh_id}-01"]
    assert out["after"] is None
