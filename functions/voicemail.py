"""Blob trigger on `voicemail/{name}`: a new voicemail from the SIP edge.

On Flex Consumption blob triggers are delivered by Event Grid (`source=EventGrid`); the local
host polls the container (and `POST /admin/functions/voicemail_new {"input":
"voicemail/{tenant}/{user}/{id}.wav"}` runs it on demand). The work is
`shared.history.services.voicemail.VoicemailEvents.on_new_blob`: the feed item, then the email
(WAV attached), SMS and push the box owner chose. Counted outcomes (a blob deleted since, a
deleted tenant or user, a name that is not a voicemail) are logged and return normally, so they
never loop; only transient errors raise for the host to retry.
"""

from __future__ import annotations

import azure.functions as func

from functions.queue_runtime import log_run
from functions.wiring import Adapters
from shared.history.services.voicemail import CONTAINER, Outcome, VoicemailEvents
from shared.notifications.services.recipients import Recipients
from shared.queue_work import Tally, reason_of

bp = func.Blueprint()

_DONE = (Outcome.NOTIFIED, Outcome.ORPHAN)


@bp.blob_trigger(
    arg_name="blob",
    path=f"{CONTAINER}/{{name}}",
    connection="AzureWebJobsStorage",
    source=func.BlobSource.EVENT_GRID,
)
async def voicemail_new(blob: func.InputStream) -> None:
    """Create or refresh the voicemail's activity and queue its notifications."""
    name = blob.name or ""
    async with Adapters() as r:
        events = VoicemailEvents(
            history=r.history,
            recipients=Recipients(r.repo),
            media=r.media,
            bus=r.bus,
            clock=r.clock,
            portal_url=r.settings.public_base_url,
        )
        try:
            result = await events.on_new_blob(name, blob.read())
        except Exception as exc:
            failed = Tally().fail(type(exc).__name__)
            log_run("voicemail_new", "blob", failed, blob=name, outcome="retry", reason=reason_of(exc))
            raise
    tally = Tally()
    if result.outcome in _DONE:
        tally.ok(result.outcome.value)
        for queue in result.queued:
            tally.notes[f"queued_{queue}"] += 1
    else:
        tally.skip(result.outcome.value)
    log_run("voicemail_new", "blob", tally, blob=name, outcome="ok", **result.fields())
