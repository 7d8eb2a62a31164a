"""/calls (history): a tenant's call records, paged newest first, one call, and its recording.

Members see the calls that reached them; owners and admins see the tenant's. Another tenant's
call ids, and calls a member may not see, answer 404. `/calls/active...` (live calls) belongs to
another router: the `{call_id}` routes here never match the segment `active`, so the order in
which the routers are included does not matter.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from starlette.convertors import Convertor, register_url_convertor

from shared.history.models.call import Direction, Disposition
from shared.history.models.views import CallOut, CallPage
from shared.history.ports import DEFAULT_LIMIT, MAX_LIMIT
from shared.history.services.access import CallFilters

from .. import media_link
from ..deps import Who
from ..history_deps import Access, as_utc, invalid_query


class CallIdConvertor(Convertor[str]):
    """One path segment, except `active` (the live-calls routes)."""

    regex = "(?!active(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("history_call_id", CallIdConvertor())

router = APIRouter(prefix="/calls", tags=["calls"])

_NOT_FOUND = {404: {"description": "no such call in this account (or not one of yours, for a member)"}}
CallId = Annotated[str, Path(min_length=1, max_length=200, description="the call id")]


@router.get(
    "",
    response_model=CallPage,
    responses={403: {"description": "a member asked for another user's calls"}},
)
async def list_calls(
    access: Access,
    who: Who,
    since: Annotated[
        dt.datetime | None,
        Query(alias="from", description="calls started at or after (ISO-8601; no offset = UTC)"),
    ] = None,
    until: Annotated[dt.datetime | None, Query(alias="to", description="calls started before")] = None,
    user_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    number: Annotated[
        str | None, Query(min_length=1, max_length=64, description="the number called or the caller")
    ] = None,
    direction: Direction | None = None,
    disposition: Disposition | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
) -> Response:
    """Newest first. The cursor of a page is bound to its filters; paging is stable while new
    calls are written (each call present when paging began is returned exactly once)."""
    since, until = as_utc(since), as_utc(until)
    if since is not None and until is not None and until <= since:
        raise invalid_query("to", "`to` must be after `from`")
    filters = CallFilters(
        since=since, until=until, user_id=user_id, number=number, direction=direction, disposition=disposition
    )
    items, next_cursor = await access.list_calls(who, filters, limit=limit, cursor=cursor)
    page = CallPage.model_construct(items=[CallOut.of(r) for r in items], next_cursor=next_cursor)
    # Serialised once, here: FastAPI would dump, re-validate and dump the page again.
    return Response(page.model_dump_json(), media_type="application/json")


@router.get("/{call_id:history_call_id}", response_model=CallOut, responses=_NOT_FOUND)
async def get_call(call_id: CallId, access: Access, who: Who) -> CallOut:
    """The whole record: IVR path, legs with their outcome and RTP quality, times, disposition."""
    return CallOut.of(await access.get_call(who, call_id))


@router.get(
    "/{call_id:history_call_id}/recording",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={
        **media_link.responses("a read-only Blob SAS URL of the WAV, valid 5 minutes (serves Range)"),
        404: {"description": "no such call for you, or it has no recording"},
    },
)
async def call_recording(call_id: CallId, request: Request, access: Access, who: Who) -> Response:
    return media_link.media_response(request, await access.recording_url(who, call_id))
