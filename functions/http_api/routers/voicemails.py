"""/voicemails: the caller's voicemail box (owners and admins may open another with `user_id`).

A voicemail is the box owner's `voicemail` activity item; its id is the item's id
(`voicemail:{call_id}`), heard is the item's read flag, and the audio is the WAV the edge put in
Blob `voicemail/{tenant}/{user}/{id}.wav`. Deleting removes the blob, the call record's
reference to it, and the item.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import RedirectResponse

from shared.history.models.views import VoicemailOut, VoicemailPage, VoicemailUpdate
from shared.history.ports import DEFAULT_LIMIT, MAX_LIMIT

from .. import media_link
from ..deps import Who
from ..history_deps import Access

router = APIRouter(prefix="/voicemails", tags=["voicemails"])

_NOT_FOUND = {404: {"description": "no such voicemail in this box"}}
_FORBIDDEN = {403: {"description": "a member named another user's box"}}
VoicemailId = Annotated[str, Path(min_length=1, max_length=200, description="e.g. voicemail:{call_id}")]
Box = Annotated[
    str | None,
    Query(min_length=1, max_length=64, description="another user's box (owners and admins)"),
]


@router.get("", response_model=VoicemailPage, responses=_FORBIDDEN)
async def list_voicemails(
    access: Access,
    who: Who,
    user_id: Box = None,
    heard: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
) -> VoicemailPage:
    """Newest first, archived ones included."""
    items, next_cursor = await access.list_voicemails(
        who, user_id=user_id, heard=heard, limit=limit, cursor=cursor
    )
    return VoicemailPage(items=[VoicemailOut.of(i) for i in items], next_cursor=next_cursor)


@router.patch("/{voicemail_id}", response_model=VoicemailOut, responses={**_NOT_FOUND, **_FORBIDDEN})
async def update_voicemail(
    voicemail_id: VoicemailId, body: VoicemailUpdate, access: Access, who: Who, user_id: Box = None
) -> VoicemailOut:
    """Mark heard or unheard."""
    return VoicemailOut.of(await access.set_heard(who, voicemail_id, body.heard, user_id))


@router.delete(
    "/{voicemail_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={**_NOT_FOUND, **_FORBIDDEN},
)
async def delete_voicemail(
    voicemail_id: VoicemailId, access: Access, who: Who, user_id: Box = None
) -> Response:
    """Deletes the audio blob as well."""
    await access.delete_voicemail(who, voicemail_id, user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{voicemail_id}/audio",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={
        **media_link.responses("a read-only Blob SAS URL of the WAV, valid 5 minutes (serves Range)"),
        **_NOT_FOUND,
        **_FORBIDDEN,
    },
)
async def voicemail_audio(
    voicemail_id: VoicemailId, request: Request, access: Access, who: Who, user_id: Box = None
) -> Response:
    return media_link.media_response(request, await access.voicemail_url(who, voicemail_id, user_id))
