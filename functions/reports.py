"""Reporting utils: the monthly usage reports (timer) and reports on demand (`reports` queue).

| function | trigger | work |
|---|---|---|
| `monthly_reports` | timer, 06:00 UTC on the 1st | `ReportJobs.monthly` (shared/services/report_jobs.py) |
| `report_request` | queue `reports` (`ReportRequest`) | `ReportJobs.on_request` |

Both write `reports/{tenant}/{YYYY-MM}.csv|.pdf` and email the owner SAS links. Each logs one
`function_run` line per run (done, skipped, failed, notes); the queue function validates its body
(malformed: straight to `reports-poison` with the reason) and follows the retry-or-poison rules
of functions/queue_runtime.py. Both run on demand with `POST /admin/functions/{name}` (the
timer ignores its input; the queue function takes the message body).
"""

from __future__ import annotations

import uuid
from typing import Any

import azure.functions as func

from functions.queue_runtime import Resources, log_run, run_queue_message
from shared.models.reports import REPORTS_QUEUE, ReportRequest
from shared.services.queue_work import Tally, reason_of
from shared.services.report_jobs import ReportJobs

bp = func.Blueprint()

MONTHLY_REPORTS_SCHEDULE = "0 0 6 1 * *"


def _jobs(r: Resources) -> ReportJobs:
    return ReportJobs(
        db=r.repo.db, history=r.history, blobs=r.media, bus=r.bus, clock=r.clock, region=r.settings.region
    )


@bp.timer_trigger(
    arg_name="timer", schedule=MONTHLY_REPORTS_SCHEDULE, run_on_startup=False, use_monitor=False
)
async def monthly_reports(timer: func.TimerRequest) -> None:
    """Last month's usage report for every tenant with calls; the owner is emailed once."""
    fields: dict[str, Any] = {
        "run_id": str(uuid.uuid4()),
        "past_due": bool(getattr(timer, "past_due", False)),
    }
    async with Resources() as r:
        try:
            tally, month = await _jobs(r).monthly()
        except Exception as exc:
            failed = Tally().fail(type(exc).__name__)
            log_run("monthly_reports", "timer", failed, outcome="error", reason=reason_of(exc), **fields)
            raise
    log_run("monthly_reports", "timer", tally, outcome="ok", month=month, **fields)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=REPORTS_QUEUE, connection="ServiceBusConnection")
async def report_request(msg: func.ServiceBusMessage) -> None:
    """Build one tenant's report of one month and email the link."""

    async def handle(body: ReportRequest, r: Resources) -> Tally:
        return await _jobs(r).on_request(body, str(body.message_id or msg.message_id or uuid.uuid4()))

    async with Resources() as r:
        await run_queue_message(
            function="report_request",
            queue=REPORTS_QUEUE,
            msg=msg,
            model=ReportRequest,
            handle=handle,
            resources=r,
        )
