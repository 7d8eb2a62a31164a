"""The devhost's schedule monitor against a real Azurite: a monitored timer whose recorded `Next`
passed while no host ran fires once, at once, with past_due; its status blob is where the
Functions host keeps it; a fresh or a changed schedule fires nothing."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import azure.functions as func
import pytest
from azure.storage.blob import BlobServiceClient

from functions.devhost.bindings import FunctionSpec
from functions.devhost.invoker import EventLog, Invoker
from functions.devhost.timers import (
    HOST_ID_SETTING,
    HOSTS_CONTAINER,
    BlobScheduleMonitor,
    ScheduleStatus,
    TimerRunner,
)
from tests.integration.azurite import Azurite, azurite
from tests.integration.test_devhost import HostProcess, blob_names, read_blob, wait_until

__all__ = ["azurite"]  # the fixture, re-exported for pytest

MONTHLY = "0 0 6 1 * *"


class _Stop(Exception):
    """Ends the runner's loop at its first wait: the start-up behaviour is what is tested."""


def _runner(
    conn: str, host_id: str, now: datetime, fired: list[bool], schedule: str = MONTHLY
) -> TimerRunner:
    def monthly(timer: func.TimerRequest) -> None:
        fired.append(timer.past_due)

    spec = FunctionSpec(
        name="monthly",
        trigger="timerTrigger",
        arg_name="timer",
        settings={"schedule": schedule, "useMonitor": True},
        user_function=monthly,
        param_names=("timer",),
    )
    monitor = BlobScheduleMonitor(BlobServiceClient.from_connection_string(conn), host_id)

    async def sleep(seconds: float) -> None:
        raise _Stop

    clock: Callable[[], datetime] = lambda: now  # noqa: E731
    return TimerRunner(spec, Invoker(EventLog(io.StringIO())), monitor, clock=clock, sleep=sleep)


def _start(runner: TimerRunner) -> None:
    with pytest.raises(_Stop):
        asyncio.run(runner.run())


def _status(conn: str, host_id: str, function: str) -> dict[str, str | None]:
    name = f"timers/{host_id}/Host.Functions.{function}/status"
    return json.loads(read_blob(conn, HOSTS_CONTAINER, name))


def test_a_restart_after_the_first_at_six_runs_the_missed_month_once(azurite: Azurite) -> None:
    conn, host_id = azurite.connection_string, f"h{uuid.uuid4().hex[:8]}"
    monitor = BlobScheduleMonitor(BlobServiceClient.from_connection_string(conn), host_id)
    may, june, july = (datetime(2026, m, 1, 6, tzinfo=UTC) for m in (5, 6, 7))
    asyncio.run(monitor.save("monthly", ScheduleStatus(may, june, may)))

    fired: list[bool] = []
    restarted_at = datetime(2026, 6, 1, 6, 5, tzinfo=UTC)  # down at 06:00 on the 1st
    _start(_runner(conn, host_id, restarted_at, fired))
    assert fired == [True]
    assert _status(conn, host_id, "monthly") == {
        "Last": june.isoformat(),
        "Next": july.isoformat(),
        "LastUpdated": restarted_at.isoformat(),
    }
    _start(_runner(conn, host_id, datetime(2026, 6, 1, 6, 7, tzinfo=UTC), fired))  # again: nothing due
    assert fired == [True]


def test_a_fresh_or_changed_schedule_records_its_next_and_runs_nothing(azurite: Azurite) -> None:
    conn, host_id = azurite.connection_string, f"h{uuid.uuid4().hex[:8]}"
    now = datetime(2026, 6, 10, 12, tzinfo=UTC)
    fired: list[bool] = []
    _start(_runner(conn, host_id, now, fired))
    assert fired == []
    assert _status(conn, host_id, "monthly")["Next"] == datetime(2026, 7, 1, 6, tzinfo=UTC).isoformat()

    # Recorded under an hourly schedule, its Next (past) is no occurrence of the monthly one.
    monitor = BlobScheduleMonitor(BlobServiceClient.from_connection_string(conn), host_id)
    hourly_next = datetime(2026, 6, 10, 11, tzinfo=UTC)
    asyncio.run(monitor.save("monthly", ScheduleStatus(None, hourly_next, hourly_next)))
    _start(_runner(conn, host_id, now, fired))
    assert fired == []
    assert _status(conn, host_id, "monthly")["Next"] == datetime(2026, 7, 1, 6, tzinfo=UTC).isoformat()


def test_devhost_runs_a_past_due_timer_once_on_start(
    azurite: Azurite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, host_id = azurite.connection_string, f"h{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(HOST_ID_SETTING, host_id)  # the host process inherits it
    # yearly_marker ("0 0 0 1 1 *", use_monitor unset: Azure's default, on): its run of this
    # 1 January was missed.
    year = datetime.now(UTC).year
    missed, last = datetime(year, 1, 1, tzinfo=UTC), datetime(year - 1, 1, 1, tzinfo=UTC)
    monitor = BlobScheduleMonitor(BlobServiceClient.from_connection_string(conn), host_id)
    asyncio.run(monitor.save("yearly_marker", ScheduleStatus(last, missed, last)))

    def markers() -> list[dict[str, bool]]:
        return [json.loads(read_blob(conn, "markers", n)) for n in blob_names(conn, "markers")]

    data_dir, log = tmp_path / "data", tmp_path / "host.log"
    first = HostProcess(conn, data_dir, log)
    try:
        assert wait_until(markers, what="the past-due run") == [{"past_due": True}]
        wait_until(
            lambda: _status(conn, host_id, "yearly_marker")["Last"] == missed.isoformat(),
            what="the status after the run",
        )
    finally:
        assert first.stop() == 0
    status = _status(conn, host_id, "yearly_marker")
    assert status["Next"] == datetime(year + 1, 1, 1, tzinfo=UTC).isoformat()

    second = HostProcess(conn, data_dir, tmp_path / "host2.log")  # a restart now: nothing is due
    try:
        wait_until(lambda: any(e["event"] == "host_started" for e in second.events()), what="the restart")
        time.sleep(1.5)  # nothing must run: give the timer's start-up (one status read) the time
    finally:
        assert second.stop() == 0
    assert not [e for e in second.events() if e["event"] == "invocation"]
    assert markers() == [{"past_due": True}]
    runs = [e for e in first.events() if e["event"] == "invocation" and e["function"] == "yearly_marker"]
    assert len(runs) == 1
