"""The directory's functions: the blob trigger `prompt_convert` turns an uploaded prompt into
8 kHz mono WAV; the timer `auth_sweeper` (hourly at :45) deletes expired `auth/` records
(`AuthSweeper`, shared/directory/services/auth_sweep.py; on demand with
`POST /admin/functions/auth_sweeper`, one `function_run` line per run).

On Flex Consumption blob triggers are delivered by Event Grid (`source=EventGrid`); the
local host polls the container instead. Either way the function runs for every new blob in
`prompts`, including its own output, so it acts only on `{tenant}/{id}/original.{ext}`.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import azure.functions as func

from functions.queue_runtime import run_timer
from functions.wiring import Adapters
from shared.directory.services.auth_sweep import AuthSweeper
from shared.directory.services.prompts import CONTAINER, PromptsService, parse_original
from shared.queue_work import Tally

bp = func.Blueprint()
log = logging.getLogger("functions.directory")

AUTH_SWEEPER_SCHEDULE = "0 45 * * * *"


def _relative(blob_path: str | None) -> str:
    """`prompts/{tid}/{id}/original.wav` -> `{tid}/{id}/original.wav`."""
    name = blob_path or ""
    return name[len(CONTAINER) + 1 :] if name.startswith(f"{CONTAINER}/") else name


@bp.blob_trigger(
    arg_name="blob",
    path="prompts/{name}",
    connection="AzureWebJobsStorage",
    source=func.BlobSource.EVENT_GRID,
)
async def prompt_convert(blob: func.InputStream) -> None:
    """Convert an uploaded prompt to 8 kHz mono 16-bit PCM WAV and mark it ready.

    Undecodable audio marks the prompt failed (a retry cannot heal it); only transient storage
    errors raise, so the host retries those."""
    name = _relative(blob.name)
    if parse_original(name) is None:
        log.debug("blob %s is not a prompt original; ignored", blob.name)
        return
    async with Adapters() as a:
        service = PromptsService(a.repo, a.media, a.clock)
        outcome = await service.convert_original(name, blob.read())
        log.info("prompt blob %s -> %s", name, outcome.value if outcome else "ignored")


@bp.timer_trigger(arg_name="timer", schedule=AUTH_SWEEPER_SCHEDULE, run_on_startup=False, use_monitor=False)
async def auth_sweeper(timer: func.TimerRequest) -> None:
    """Delete expired refresh tokens, links and throttle counters, and old revoked families."""

    async def work(r: Adapters, run_id: str) -> tuple[Tally, dict[str, Any]]:
        ttl = dt.timedelta(seconds=r.settings.refresh_token_ttl_seconds)
        return await AuthSweeper(r.repo.db, r.clock, ttl).run(), {}

    await run_timer("auth_sweeper", timer, work)
