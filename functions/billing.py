"""Billing and reports: usage reports (monthly timer and on demand) and the carrier rates sync.

| function | trigger | work |
|---|---|---|
| `monthly_reports` | timer, 1st, 06:00 UTC | `ReportJobs.monthly` (shared/billing/services/report_jobs.py) |
| `report_request` | queue `reports` (`ReportRequest`) | `ReportJobs.on_request` |
| `rates_sync` | timer, daily 02:10 UTC | `RatesSync.run` (shared/billing/services/rates_sync.py) |

Reports are written to `reports/{tenant}/{YYYY-MM}.csv|.pdf` and the owner is emailed SAS links.
Every function logs one `function_run` line per run (done, skipped, failed, notes) and runs on
demand with `POST /admin/functions/{name}` (timers ignore their input; the queue function takes
the message body). The queue function checks its body (malformed: dead-lettered with the
reason) and follows the retry-with-backoff and dead-letter rules of functions/queue_runtime.py,
on the deployment's transport (Service Bus in Azure, Storage queues locally). The rates sync also
logs one `rates_bad_row` line per bad row of the deck (line number and reason; at most
`MAX_LOGGED_BAD_ROWS`).
"""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from functions.queue_runtime import Delivery, queue_function, run_log, run_timer
from functions.wiring import Adapters
from shared.adapters.blob_documents import BlobDocuments
from shared.billing.models import REPORTS_QUEUE, ReportRequest
from shared.billing.services.rates_sync import RatesSync, SyncResult
from shared.billing.services.report_jobs import ReportJobs
from shared.logs import log_event
from shared.queue_work import Tally

bp = func.Blueprint()

MONTHLY_REPORTS_SCHEDULE = "0 0 6 1 * *"
RATES_SYNC_SCHEDULE = "0 10 2 * * *"
MAX_LOGGED_BAD_ROWS = 200


def _jobs(r: Adapters) -> ReportJobs:
    return ReportJobs(
        db=r.repo.db,
        history=r.history,
        blobs=r.media,
        bus=r.bus,
        clock=r.clock,
        region=r.settings.region,
        api_base_url=r.settings.api_base_url,
    )


@bp.timer_trigger(arg_name="timer", schedule=MONTHLY_REPORTS_SCHEDULE, run_on_startup=False, use_monitor=True)
async def monthly_reports(timer: func.TimerRequest) -> None:
    """Last month's usage report for every tenant with calls; the owner is emailed once."""

    async def work(r: Adapters, run_id: str) -> tuple[Tally, dict[str, Any]]:
        tally, month = await _jobs(r).monthly()
        return tally, {"month": month}

    await run_timer("monthly_reports", timer, work)


async def _report_request(body: ReportRequest, r: Adapters, d: Delivery) -> Tally:
    return await _jobs(r).on_request(body, d.message_id)


report_request = queue_function(
    bp,
    name="report_request",
    queue=REPORTS_QUEUE,
    model=ReportRequest,
    handle=_report_request,
    doc="Build one tenant's report of one month and email the link.",
)


def rates_tally(result: SyncResult) -> Tally:
    """Rows published are done; bad rows are failed; an unusable deck or an unreachable source is
    one more failure (the table in force is kept); an unchanged deck is skipped."""
    tally = Tally()
    if result.outcome in ("published", "superseded"):
        tally.ok(result.outcome, result.good)
    elif result.outcome == "unchanged":
        tally.skip("unchanged")
    else:
        tally.fail(result.outcome)
    if result.bad:
        tally.fail("bad_row", len(result.bad))
    return tally


@bp.timer_trigger(arg_name="timer", schedule=RATES_SYNC_SCHEDULE, run_on_startup=False, use_monitor=True)
async def rates_sync(timer: func.TimerRequest) -> None:
    """Import the carrier rate deck (RATES_SOURCE) as a new table version when it changed."""

    async def work(r: Adapters, run_id: str) -> tuple[Tally, dict[str, Any]]:
        source = r.rate_deck
        result = await RatesSync(source, BlobDocuments(r.media), r.clock).run()
        for bad in result.bad[:MAX_LOGGED_BAD_ROWS]:
            fields = {"function": "rates_sync", "run_id": run_id, **bad.model_dump()}
            log_event(run_log, "rates_bad_row", logging.WARNING, **fields)
        more = {
            "rates_outcome": result.outcome,
            "version": result.version,
            "rows": result.rows,
            "reason": result.reason,
            "source": source.location,
        }
        return rates_tally(result), more

    await run_timer("rates_sync", timer, work)
