"""/activities: the caller's feed (missed calls, voicemails, reports, account notices; the kind
`sms` is reserved for inbound texts, which nothing writes yet)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from shared.history.models.call import ActivityKind
from shared.history.models.views import ActivityOut, ActivityPage, ActivityUpdate, ReadAllResult
from shared.history.ports import DEFAULT_LIMIT, MAX_LIMIT

from ..deps import Who
from ..history_deps import Access

router = APIRouter(prefix="/activities", tags=["activities"])

_ARCHIVED: dict[str, bool | None] = {"false": False, "true": True, "any": None}


@router.get("", response_model=ActivityPage)
async def list_activities(
    access: Access,
    who: Who,
    read: Annotated[bool | None, Query(description="only read (true) or unread (false) items")] = None,
    archived: Annotated[
        Literal["false", "true", "any"],
        Query(description="archived items: left out (default), only, or both"),
    ] = "false",
    kind: ActivityKind | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
) -> ActivityPage:
    """Newest first."""
    (items, next_cursor), unread = await access.list_activities(
        who, read=read, archived=_ARCHIVED[archived], kind=kind, limit=limit, cursor=cursor
    )
    return ActivityPage(items=[ActivityOut.of(i) for i in items], next_cursor=next_cursor, unread=unread)


@router.post("/read-all", response_model=ReadAllResult)
async def read_all(access: Access, who: Who) -> ReadAllResult:
    """Mark every unread item read (archived ones too)."""
    updated, unread = await access.read_all(who)
    return ReadAllResult(updated=updated, unread=unread)


@router.patch(
    "/{activity_id}",
    response_model=ActivityOut,
    responses={404: {"description": "no such item in your feed"}},
)
async def update_activity(
    activity_id: Annotated[str, Path(min_length=1, max_length=200)],
    body: ActivityUpdate,
    access: Access,
    who: Who,
) -> ActivityOut:
    """Set `read` and/or `archived`."""
    item = await access.update_activity(who, activity_id, read=body.read, archived=body.archived)
    return ActivityOut.of(item)
