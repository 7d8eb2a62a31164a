"""Fire ``timerTrigger`` functions on their NCRONTAB schedules, with Azure's schedule monitor.

A monitored timer (``use_monitor``) keeps its schedule status where the Functions host keeps it:
the blob ``azure-webjobs-hosts/timers/<host id>/Host.Functions.<name>/status`` holding
``{"Last", "Next", "LastUpdated"}`` (ISO 8601). As the host does:

- on start, with no status yet: record one (``Next`` = the next occurrence), run nothing;
- on start, when the recorded ``Next`` is past (the host was down at that time): run the function
  once, at once, with ``past_due=True``; then follow the schedule from now (one catch-up run however
  many occurrences were missed);
- a status whose ``Next`` is not an occurrence of the schedule was written under another
  schedule: it is replaced, and nothing is past due;
- after every run: ``Last`` = the occurrence served, ``Next`` = the next one after now.

``use_monitor`` left unset is Azure's default: monitored when the schedule fires at most once a
minute. The host id is ``AzureFunctionsWebHost__hostid`` (default ``devhost``). Without storage the
devhost runs timers unmonitored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import azure.functions as func
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobServiceClient

from functions.devhost import ncrontab
from functions.devhost.bindings import FunctionSpec
from functions.devhost.invoker import Invoker

PAST_DUE_SLACK = timedelta(seconds=1)
HOSTS_CONTAINER = "azure-webjobs-hosts"
HOST_ID_SETTING = "AzureFunctionsWebHost__hostid"
DEFAULT_HOST_ID = "devhost"

log = logging.getLogger("functions.devhost.timers")


@dataclass(frozen=True)
class ScheduleStatus:
    last: datetime | None
    next: datetime | None
    last_updated: datetime | None

    def to_json(self) -> dict[str, str | None]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {"Last": iso(self.last), "Next": iso(self.next), "LastUpdated": iso(self.last_updated)}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ScheduleStatus:
        def parse(key: str) -> datetime | None:
            raw = doc.get(key)
            if not raw:
                return None
            d = datetime.fromisoformat(str(raw))
            d = d if d.tzinfo else d.replace(tzinfo=UTC)
            return None if d.year <= 1 else d.astimezone(UTC)  # .NET's default(DateTime): none

        return cls(parse("Last"), parse("Next"), parse("LastUpdated"))


class ScheduleMonitor(Protocol):
    async def load(self, function: str) -> ScheduleStatus | None: ...

    async def save(self, function: str, status: ScheduleStatus) -> None: ...


class BlobScheduleMonitor:
    """Schedule statuses as blobs, where the Functions host keeps them."""

    def __init__(self, blobs: BlobServiceClient, host_id: str = DEFAULT_HOST_ID) -> None:
        self.blobs = blobs
        self.host_id = host_id

    def blob_name(self, function: str) -> str:
        return f"timers/{self.host_id}/Host.Functions.{function}/status"

    async def load(self, function: str) -> ScheduleStatus | None:
        client = self.blobs.get_blob_client(HOSTS_CONTAINER, self.blob_name(function))

        def read() -> bytes | None:
            try:
                return client.download_blob().readall()
            except ResourceNotFoundError:
                return None

        raw = await asyncio.to_thread(read)
        if raw is None:
            return None
        try:
            return ScheduleStatus.from_json(json.loads(raw))
        except (ValueError, TypeError, AttributeError):
            log.warning("unreadable schedule status of %s: starting afresh", function)
            return None

    async def save(self, function: str, status: ScheduleStatus) -> None:
        container = self.blobs.get_container_client(HOSTS_CONTAINER)
        body = json.dumps(status.to_json()).encode()

        def write() -> None:
            with contextlib.suppress(ResourceExistsError):
                container.create_container()
            container.upload_blob(self.blob_name(function), body, overwrite=True)

        await asyncio.to_thread(write)


def timer_request(
    past_due: bool, last: datetime | None, nxt: datetime | None, updated: datetime | None = None
) -> func.TimerRequest:
    status = ScheduleStatus(last, nxt, updated or datetime.now(UTC)).to_json()
    return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": False})


def monitored(spec: FunctionSpec, schedule: ncrontab.Schedule) -> bool:
    """The spec's ``useMonitor``, or Azure's default: on when the schedule fires at most once a minute."""
    explicit = spec.setting("useMonitor")
    if explicit is not None:
        return bool(explicit)
    first = schedule.next_after(datetime.now(UTC))
    return schedule.next_after(first) - first >= timedelta(minutes=1)


def _now() -> datetime:
    return datetime.now(UTC)


class TimerRunner:
    def __init__(
        self,
        spec: FunctionSpec,
        invoker: Invoker,
        monitor: ScheduleMonitor | None = None,
        *,
        clock: Callable[[], datetime] = _now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.spec = spec
        self.invoker = invoker
        self.schedule = ncrontab.parse(str(spec.setting("schedule")))
        self.monitor = monitor if monitor is not None and monitored(spec, self.schedule) else None
        self.clock = clock
        self.sleep = sleep

    async def run(self) -> None:
        last = await self._start()
        due = self.schedule.next_after(self.clock())
        while True:
            await self.sleep(max(0.0, (due - self.clock()).total_seconds()))
            now = self.clock()
            await self._fire(now - due > PAST_DUE_SLACK, due, last)
            last, due = due, self.schedule.next_after(max(self.clock(), due))

    async def _start(self) -> datetime | None:
        """Run on startup and the monitor's catch-up run; the `Last` the loop starts from."""
        now = self.clock()
        status = await self._load()
        if self.spec.setting("runOnStartup"):
            await self._fire(False, now, status.last if status else None)
            return now
        if self.monitor is None:
            return None
        if status is None or not self._on_schedule(status.next):
            await self._save(
                ScheduleStatus(status.last if status else None, self.schedule.next_after(now), now)
            )
            return status.last if status else None
        if status.next is not None and now > status.next:
            await self._fire(True, status.next, status.last)
            return status.next
        return status.last

    def _on_schedule(self, occurrence: datetime | None) -> bool:
        if occurrence is None:
            return False
        if isinstance(self.schedule, ncrontab.IntervalSchedule):
            return True
        return self.schedule.next_after(occurrence - timedelta(seconds=1)) == occurrence

    async def _fire(self, past_due: bool, occurrence: datetime, last: datetime | None) -> None:
        now = self.clock()
        nxt = self.schedule.next_after(max(now, occurrence))
        with contextlib.suppress(Exception):  # logged by the invoker; the schedule goes on
            await self.invoker.invoke(self.spec, timer_request(past_due, last, nxt, now))
        await self._save(ScheduleStatus(occurrence, self.schedule.next_after(self.clock()), self.clock()))

    async def _load(self) -> ScheduleStatus | None:
        if self.monitor is None:
            return None
        try:
            return await self.monitor.load(self.spec.name)
        except Exception as exc:
            log.warning("schedule status of %s not read: %r", self.spec.name, exc)
            return None

    async def _save(self, status: ScheduleStatus) -> None:
        if self.monitor is None:
            return
        try:
            await self.monitor.save(self.spec.name, status)
        except Exception as exc:  # storage down: the schedule goes on, the next save catches up
            log.warning("schedule status of %s not saved: %r", self.spec.name, exc)
