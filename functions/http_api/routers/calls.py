"""/calls: click-to-call and the live calls of the caller's tenant, through the SIP edge.

    POST   /api/v1/calls                     {"destination": "+1555...", "caller_id"?} -> 202, the call
    GET    /api/v1/calls/active              the tenant's live calls (members: their own)
    DELETE /api/v1/calls/active/{call_id}    hang up (members: only their own)

Click-to-call rings the signed-in user's first forwarding number; when they answer, the edge
dials the destination and bridges the two. The call's record reaches the History DB (direction
`click_to_call`) when it ends. The work is `ClickToCallService`
(shared/calls/services/click_to_call.py), which reaches the edge through the `EdgeCallControl`
port (`HttpEdgeControl` at EDGE_CONTROL_URL); when the edge is unreachable the answer is 503,
never 500.

Before anything is dialled, the tenant's state and its outbound policy are checked
(`/outbound-policy`, routers/outbound_policy.py): 403 for a suspended tenant or an ended trial, a
destination (or the user's own phone) in a country not allowed, premium-rate or satellite, or a
spent monthly cap; 429 past the tenant's concurrent calls, calls per minute or share of the edge.
Each refusal's `type` ends in its stable `error_id`.

The history routes (`GET /calls`, `GET /calls/{id}`, routers/call_history.py) live elsewhere;
live calls sit under `/calls/active`, a segment their `{call_id}` converter never matches.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from shared.calls.models import ActiveCall, ActiveCallList, ClickToCallBody

from ..deps import Ctx, Who

router = APIRouter(prefix="/calls", tags=["calls"])

_NOT_FOUND = {"description": "no such live call in your tenant (or not yours, for a member)"}
_UNAVAILABLE = {"description": "the call service is unreachable; retry shortly"}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ActiveCall,
    responses={
        403: {
            "description": "tenant-suspended, trial-expired, destination-country-not-allowed,"
            " destination-premium-rate, destination-satellite, destination-not-priced, spend-cap-reached"
        },
        409: {"description": "you have no forwarding number to ring"},
        422: {"description": "the destination is not an E.164 number, or not dialable"},
        429: {
            "description": "too-many-concurrent-calls, call-rate-exceeded, edge-share-exhausted (Retry-After)"
        },
        503: _UNAVAILABLE,
    },
)
async def click_to_call(body: ClickToCallBody, ctx: Ctx, who: Who) -> ActiveCall:
    """Ring your phone (your first forwarding number); when you answer, dial `destination`."""
    return await ctx.calls.place(who, body.destination, body.caller_id)


@router.get("/active", response_model=ActiveCallList, responses={503: _UNAVAILABLE})
async def list_active_calls(ctx: Ctx, who: Who) -> ActiveCallList:
    """The tenant's live calls; owners and admins see all of them, members their own."""
    return ActiveCallList(items=await ctx.calls.live_calls(who))


@router.delete(
    "/active/{call_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={404: _NOT_FOUND, 503: _UNAVAILABLE},
)
async def hang_up(call_id: str, ctx: Ctx, who: Who) -> Response:
    """Hang up a live call of your tenant (members: only their own calls)."""
    await ctx.calls.hang_up(who, call_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
