"""The directory's blob trigger: `prompt_convert` turns an uploaded prompt into 8 kHz mono WAV.

On Flex Consumption blob triggers are delivered by Event Grid (`source=EventGrid`); the
local host polls the container instead. Either way the function runs for every new blob in
`prompts`, including its own output, so it acts only on `{tenant}/{id}/original.{ext}`.
"""

from __future__ import annotations

import logging

import azure.functions as func

from functions.wiring import Adapters
from shared.directory.services.prompts import CONTAINER, PromptsService, parse_original

bp = func.Blueprint()
log = logging.getLogger("functions.directory")


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
