"""Fire ``timerTrigger`` functions on their NCRONTAB schedules."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

import azure.functions as func
from azure.functions.timer import TimerRequest

from functions.devhost import ncrontab
from functions.devhost.bindings import FunctionSpec
from functions.devhost.invoker import Invoker

PAST_DUE_SLACK = timedelta(seconds=1)


def timer_request(past_due: bool, last: datetime | None, nxt: datetime | None) -> func.TimerRequest:
    status = {
        "Last": last.isoformat() if last else None,
        "Next": nxt.isoformat() if nxt else None,
        "LastUpdated": datetime.now(UTC).isoformat(),
    }
    return TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": False})


class TimerRunner:
    def __init__(self, spec: FunctionSpec, invoker: Invoker) -> None:
        self.spec = spec
        self.invoker = invoker
        self.schedule = ncrontab.parse(str(spec.setting("schedule")))

    async def run(self) -> None:
        last: datetime | None = None
        if self.spec.setting("runOnStartup"):
            nxt = self.schedule.next_after(datetime.now(UTC))
            await self._fire(timer_request(False, None, nxt))
        due = self.schedule.next_after(datetime.now(UTC))
        while True:
            await asyncio.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
            now = datetime.now(UTC)
            nxt = self.schedule.next_after(max(now, due))
            await self._fire(timer_request(now - due > PAST_DUE_SLACK, last, nxt))
            last, due = due, self.schedule.next_after(max(datetime.now(UTC), due))

    async def _fire(self, req: func.TimerRequest) -> None:
        with contextlib.suppress(Exception):  # logged by the invoker; the schedule goes on
            await self.invoker.invoke(self.spec, req)
