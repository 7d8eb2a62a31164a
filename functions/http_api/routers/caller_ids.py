"""/caller-ids: numbers the account brings as caller ID for click-to-call, once verified.

    GET    /api/v1/caller-ids                 the account's caller IDs (pending and verified)
    POST   /api/v1/caller-ids {"number"}      start: a call to the number reads out a 6-digit code
    GET    /api/v1/caller-ids/{id}
    POST   /api/v1/caller-ids/{id}/verify {"code"}   the code heard -> verified
    DELETE /api/v1/caller-ids/{id}

Owners and admins start, verify and delete; everyone reads. The rules (code lifetime, attempts,
one call a minute) are `CallerIdsService` (shared/calls/services/caller_ids.py); click-to-call
(`POST /calls` with `caller_id`) shows only the account's numbers and its verified caller IDs.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from shared.calls.models import CallerIdCreate, CallerIdList, CallerIdOut, CallerIdVerify
from shared.calls.services.caller_ids import caller_id_out

from ..deps import Ctx, Who

router = APIRouter(prefix="/caller-ids", tags=["calls"])

_NOT_FOUND = {"description": "no such caller ID in this account"}


@router.get("", response_model=CallerIdList)
async def list_caller_ids(ctx: Ctx, who: Who) -> CallerIdList:
    return CallerIdList(items=[caller_id_out(c) for c in await ctx.caller_ids.list(who)])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CallerIdOut,
    responses={
        403: {"description": "members cannot"},
        409: {"description": "already one of your numbers or a verified caller ID"},
        429: {"description": "a code was called out to this number less than a minute ago"},
        503: {"description": "the call service is unreachable; retry shortly"},
    },
)
async def start_caller_id(body: CallerIdCreate, ctx: Ctx, who: Who, response: Response) -> CallerIdOut:
    """Call `number` and read out a 6-digit code (good for 10 minutes, 5 tries); send it to
    `/caller-ids/{id}/verify`. Asking again for the same number calls again with a new code."""
    got = await ctx.caller_ids.start(who, body.number)
    response.headers["Location"] = f"/api/v1/caller-ids/{got.id}"
    return caller_id_out(got)


@router.get("/{caller_id}", response_model=CallerIdOut, responses={404: _NOT_FOUND})
async def get_caller_id(caller_id: str, ctx: Ctx, who: Who) -> CallerIdOut:
    return caller_id_out(await ctx.caller_ids.get(who, caller_id))


@router.post(
    "/{caller_id}/verify",
    response_model=CallerIdOut,
    responses={
        404: _NOT_FOUND,
        409: {"description": "the code expired or its tries are used up: start again"},
        422: {"description": "not the code (attempts_left says how many tries remain)"},
    },
)
async def verify_caller_id(caller_id: str, body: CallerIdVerify, ctx: Ctx, who: Who) -> CallerIdOut:
    return caller_id_out(await ctx.caller_ids.verify(who, caller_id, body.code))


@router.delete(
    "/{caller_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={404: _NOT_FOUND},
)
async def delete_caller_id(caller_id: str, ctx: Ctx, who: Who) -> Response:
    await ctx.caller_ids.delete(who, caller_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
