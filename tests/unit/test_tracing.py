"""shared.tracing: W3C traceparent parsing and the current trace context, without OpenTelemetry."""

from __future__ import annotations

import asyncio
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
