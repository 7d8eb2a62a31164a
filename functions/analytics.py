"""Rates sync (daily) and the voice quality analyzer (every 15 minutes): timer functions.

| function | schedule | work |
|---|---|---|
| `rates_sync` | daily 02:10 UTC | `RatesSync.run` (shared/services/rates_sync.py) |
| `quality_analyzer` | every 15 minutes | `QualityAnalyzer.run` (shared/services/quality_watch.py) |

Each is idempotent and overlap-safe (see the service modules), runs on demand with
`POST /admin/functions/{name}` (the input is ignored), and logs one `function_run` line per run
on `functions.runs` (done, skipped, failed, notes). The rates sync also logs one `rates_bad_row`
line per bad row of the deck (line number and reason; at most `MAX_LOGGED_BAD_ROWS`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import azure.functions as func

from functions.queue_runtime import Resources, log_run, run_log
from shared.adapters.blob_documents import BlobDocuments
from shared.adapters.rate_deck_source import RateDeckSource
from shared.services.quality_watch import QualityAnalyzer
from shared.services.queue_work import Tally, reason_of
from shared.services.rates_sync import RatesSync, SyncResult

bp = func.Blueprint()

RATES_SYNC_SCHEDULE = "0 10 2 * * *"
QUALITY_ANALYZER_SCHEDULE = "0 */15 * * * *"
MAX_LOGGED_BAD_ROWS = 200


def _fields(timer: func.TimerRequest) -> dict[str, Any]:
    return {"run_id": str(uuid.uuid4()), "past_due": bool(getattr(timer, "past_due", False))}


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


@bp.timer_trigger(arg_name="timer", schedule=RATES_SYNC_SCHEDULE, run_on_startup=False, use_monitor=False)
async def rates_sync(timer: func.TimerRequest) -> None:
    """Import the carrier rate deck (RATES_SOURCE) as a new table version when it changed."""
    fields = _fields(timer)
    async with Resources() as r:
        source = RateDeckSource(r.settings.rates_source)
        try:
            result = await RatesSync(source, BlobDocuments(r.media), r.clock).run()
        except Exception as exc:
            failed = Tally().fail(type(exc).__name__)
            log_run("rates_sync", "timer", failed, outcome="error", reason=reason_of(exc), **fields)
            raise
    for bad in result.bad[:MAX_LOGGED_BAD_ROWS]:
        doc = {
            "event": "rates_bad_row",
            "function": "rates_sync",
            "run_id": fields["run_id"],
            **bad.model_dump(),
        }
        run_log.warning(json.dumps(doc, separators=(",", ":")))
    log_run(
        "rates_sync",
        "timer",
        rates_tally(result),
        outcome="ok",
        rates_outcome=result.outcome,
        version=result.version,
        rows=result.rows,
        reason=result.reason,
        source=source.location,
        **fields,
    )


@bp.timer_trigger(
    arg_name="timer", schedule=QUALITY_ANALYZER_SCHEDULE, run_on_startup=False, use_monitor=False
)
async def quality_analyzer(timer: func.TimerRequest) -> None:
    """Flag tenants and numbers with poor RTP quality; write the daily quality series."""
    fields = _fields(timer)
    async with Resources() as r:
        analyzer = QualityAnalyzer(
            db=r.repo.db, history=r.history, blobs=r.media, clock=r.clock, region=r.settings.region
        )
        try:
            tally = await analyzer.run()
        except Exception as exc:
            failed = Tally().fail(type(exc).__name__)
            log_run("quality_analyzer", "timer", failed, outcome="error", reason=reason_of(exc), **fields)
            raise
    log_run("quality_analyzer", "timer", tally, outcome="ok", **fields)
