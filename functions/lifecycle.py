"""Account lifecycle: the trial, cleaner and marketing timers (NCRONTAB, 6 fields with seconds first, UTC).

| function | schedule | work |
|---|---|---|
| `trial_stopper` | every 5 minutes | `TrialJobs.stop_expired` (shared/lifecycle/services/trials.py) |
| `trial_reminder` | hourly | `TrialJobs.send_reminders` |
| `tenant_cleaner` | daily 03:30 | `TenantCleaner.run` (shared/lifecycle/services/tenant_cleaner.py) |
| `marketing_sync` | hourly at :15 | `MarketingSync.run` (shared/lifecycle/services/marketing.py) |

Each is idempotent and safe when two instances overlap (ConfigDB compare-and-swap; see the
service modules), runs on demand with `POST /admin/functions/{name}` (the input is ignored), and
logs one `function_run` line per run on `functions.runs` with `done`, `skipped`, `failed` and
`notes`. The cleaner also logs one `cleanup_step` line per step and tenant. A run that cannot
reach a store logs `outcome: "error"` and raises (the host logs the invocation as failed); the
next schedule tries again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import azure.functions as func

from functions.queue_runtime import run_log, run_timer
from functions.wiring import Adapters
from shared.configdb import AsyncConfigDBClient
from shared.lifecycle.services.marketing import MarketingSync
from shared.lifecycle.services.tenant_cleaner import TenantCleaner
from shared.lifecycle.services.trials import TrialJobs
from shared.logs import log_event
from shared.queue_work import Tally

bp = func.Blueprint()

TRIAL_STOPPER_SCHEDULE = "0 */5 * * * *"
TRIAL_REMINDER_SCHEDULE = "0 0 * * * *"
TENANT_CLEANER_SCHEDULE = "0 30 3 * * *"
MARKETING_SYNC_SCHEDULE = "0 15 * * * *"


def _db(r: Adapters) -> AsyncConfigDBClient:
    return r.repo.db


def _trials(r: Adapters) -> TrialJobs:
    return TrialJobs(_db(r), r.bus, r.clock, r.settings.public_base_url, r.settings.region)


@bp.timer_trigger(arg_name="timer", schedule=TRIAL_STOPPER_SCHEDULE, run_on_startup=False, use_monitor=False)
async def trial_stopper(timer: func.TimerRequest) -> None:
    """Suspend trials past their end without a billing account and email the owner."""

    async def work(r: Adapters, run_id: str) -> tuple[Tally, dict[str, Any]]:
        return await _trials(r).stop_expired(), {}

    await run_timer("trial_stopper", timer, work)


@bp.timer_trigger(arg_name="timer", schedule=TRIAL_REMINDER_SCHEDULE, run_on_startup=False, use_monitor=False)
async def trial_reminder(timer: func.TimerRequest) -> None:
    """Email trial owners 3 days and 1 day before the end, once each."""

    async def work(r: Adapters, run_id: str) -> tuple[Tally, dict[str, Any]]:
        return await _trials(r).send_reminders(), {}

    await run_timer("trial_reminder", timer, work)


@bp.timer_trigger(arg_name="timer", schedule=TENANT_CLEANER_SCHEDULE, run_on_startup=False, use_monitor=True)
async def tenant_cleaner(timer: func.TimerRequest) -> None:
    """Delete closed tenants past the 30-day retention: ConfigDB, History and Blob; resumable."""

    def log_step(doc: dict[str, Any]) -> None:
        fields = {**doc, "function": "tenant_cleaner"}
        log_event(run_log, fields.pop("event"), **fields)

    async def work(r: Adapters, run_id: str) -> tuple[Tally, dict[str, Any]]:
        cleaner = TenantCleaner(
            db=_db(r),
            history=r.history,
            blobs=r.media,
            clock=r.clock,
            run_id=run_id,
            log_step=log_step,
            region=r.settings.region,
            quarantine=dt.timedelta(days=r.settings.number_quarantine_days),
        )
        return await cleaner.run(), {}

    await run_timer("tenant_cleaner", timer, work)


@bp.timer_trigger(arg_name="timer", schedule=MARKETING_SYNC_SCHEDULE, run_on_startup=False, use_monitor=False)
async def marketing_sync(timer: func.TimerRequest) -> None:
    """Send new and changed sign-ups (with their consent flag) to the marketing system."""

    async def work(r: Adapters, run_id: str) -> tuple[Tally, dict[str, Any]]:
        sync = MarketingSync(_db(r), r.marketing_sink, r.clock, run_id, r.settings.region)
        return await sync.run()

    await run_timer("marketing_sync", timer, work)
