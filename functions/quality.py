"""Call quality: the voice quality analyzer (timer, every 15 minutes).

`quality_analyzer` runs `QualityAnalyzer.run` (shared/quality/services/quality_watch.py): it flags
tenants and numbers with poor RTP quality and writes the daily quality series. It is idempotent
and overlap-safe, runs on demand with `POST /admin/functions/quality_analyzer` (the input is
ignored), and logs one `function_run` line per run on `functions.runs`.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions.queue_runtime import run_timer
from functions.wiring import Adapters
from shared.quality.services.quality_watch import QualityAnalyzer
from shared.queue_work import Tally

bp = func.Blueprint()

QUALITY_ANALYZER_SCHEDULE = "0 */15 * * * *"


@bp.timer_trigger(
    arg_name="timer", schedule=QUALITY_ANALYZER_SCHEDULE, run_on_startup=False, use_monitor=False
)
async def quality_analyzer(timer: func.TimerRequest) -> None:
    """Flag tenants and numbers with poor RTP quality; write the daily quality series."""

    async def work(r: Adapters, run_id: str) -> tuple[Tally, dict[str, Any]]:
        analyzer = QualityAnalyzer(
            db=r.repo.db, history=r.history, blobs=r.media, clock=r.clock, region=r.settings.region
        )
        return await analyzer.run(), {}

    await run_timer("quality_analyzer", timer, work)
