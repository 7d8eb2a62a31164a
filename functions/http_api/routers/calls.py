"""/calls: click-to-call and the live calls of the caller's tenant, through the SIP edge.

    POST   /api/v1/calls                     {"destination": "+1555..."} -> 202, the call
    GET    /api/v1/calls/active              the tenant's live calls (members: their own)
    DELETE /api/v1/calls/active/{call_id}    hang up (members: only their own)

Click-to-call rings the signed-in user's first forwarding number; when they answer, the edge
dials the destination and bridges the two. The call's record reaches the History DB (direction
`click_to_call`) when it ends. The edge is reached through the `CallControl` port
(`HttpEdgeControl` at EDGE_CONTROL_URL); when it is unreachable the answer is 503, never 500.

The history routes (`GET /calls`, `GET /calls/{id}`, routers/call_history.py) live elsewhere;
live calls sit under `/calls/active`, a segment their `{call_id}` converter never matches.
"""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from pydantic import BaseModel, ConfigDict
from shared.calls.ports import CallControl

from shared.adapters.edge_control import HttpEdgeControl
from shared.calls.models import ActiveCall
from shared.directory.services.access import is_manager
from shared.errors import CallRefused, Unavailable
from shared.security.tokens import Principal
from shared.values import E164

from ..deps import Ctx, Who
from ..errors import ApiError

log = logging.getLogger("api.calls")

router = APIRouter(prefix="/calls", tags=["calls"])

_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ClickToCallBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    destination: E164


class ActiveCallList(BaseModel):
    items: list[ActiveCall]


def edge_control(request: Request, ctx: Ctx) -> CallControl:
    """The app's `CallControl`: `app.state.edge_control` when a test put one there, else one
    `HttpEdgeControl` from the settings, made on first use and closed with the app."""
    control: CallControl | None = getattr(request.app.state, "edge_control", None)
    if control is None:
        adapter = HttpEdgeControl(
            ctx.settings.edge_control_url, ctx.settings.edge_control_token.get_secret_value()
        )
        request.app.state.edge_control = control = adapter
        ctx.owned.append(adapter)
    return control


Edge = Annotated[CallControl, Depends(edge_control)]

_NOT_FOUND = {"description": "no such live call in your tenant (or not yours, for a member)"}
_UNAVAILABLE = {"description": "the call service is unreachable; retry shortly"}


def _unavailable(exc: Unavailable, who: Principal) -> ApiError:
    log.warning(
        "call service unavailable",
        extra={"event": "edge_unavailable", "tenant_id": who.tenant_id, "detail": str(exc)},
    )
    return ApiError(
        503,
        "Service unavailable",
        "the call service is unreachable; retry shortly",
        "unavailable",
        headers={"Retry-After": "1"},
    )


def _no_phone() -> ApiError:
    return ApiError(
        409,
        "No phone to ring",
        "add a forwarding number to your profile first: click-to-call rings it, then the destination",
        "no-forwarding-number",
    )


def _refused(exc: CallRefused, who: Principal) -> ApiError:
    log.warning(
        "call service refused",
        extra={
            "event": "edge_refused",
            "tenant_id": who.tenant_id,
            "user_id": who.user_id,
            "status": exc.status,
            "detail": str(exc),
        },
    )
    if exc.status == 422:  # the edge has no phone for the user (it validated nothing else we did not)
        return _no_phone()
    # 404: the edge has not seen the user yet (config reaches it within a second), or anything else
    return ApiError(
        503,
        "Service unavailable",
        "the call service cannot place this call right now; retry shortly",
        "unavailable",
        headers={"Retry-After": "1"},
    )


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ActiveCall,
    responses={
        409: {"description": "you have no forwarding number to ring"},
        422: {"description": "the destination is not an E.164 number"},
        503: _UNAVAILABLE,
    },
)
async def click_to_call(body: ClickToCallBody, ctx: Ctx, who: Who, edge: Edge) -> ActiveCall:
    """Ring your phone (your first forwarding number); when you answer, dial `destination`."""
    me = await ctx.users.get(who, who.user_id)
    if not me.doc.forwarding_numbers:
        raise _no_phone()
    try:
        call = await edge.click_to_call(who.tenant_id, who.user_id, body.destination)
    except Unavailable as exc:
        raise _unavailable(exc, who) from exc
    except CallRefused as exc:
        raise _refused(exc, who) from exc
    log.info(
        "click-to-call placed",
        extra={
            "event": "click_to_call_placed",
            "tenant_id": who.tenant_id,
            "user_id": who.user_id,
            "call_id": call.call_id,
        },
    )
    return call


async def _visible_calls(edge: CallControl, who: Principal) -> list[ActiveCall]:
    try:
        calls = await edge.active_calls(who.tenant_id)
    except Unavailable as exc:
        raise _unavailable(exc, who) from exc
    except CallRefused as exc:
        raise _refused(exc, who) from exc
    calls = [c for c in calls if c.tenant_id == who.tenant_id]  # the edge scopes; say it twice
    return calls if is_manager(who) else [c for c in calls if c.user_id == who.user_id]


@router.get("/active", response_model=ActiveCallList, responses={503: _UNAVAILABLE})
async def list_active_calls(who: Who, edge: Edge) -> ActiveCallList:
    """The tenant's live calls; owners and admins see all of them, members their own."""
    return ActiveCallList(items=await _visible_calls(edge, who))


@router.delete(
    "/active/{call_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={404: _NOT_FOUND, 503: _UNAVAILABLE},
)
async def hang_up(call_id: str, who: Who, edge: Edge) -> Response:
    """Hang up a live call of your tenant (members: only their own calls)."""
    missing = ApiError(404, "Not found", f"no live call {call_id!r}", "not-found")
    if not _CALL_ID.fullmatch(call_id):
        raise missing
    if not is_manager(who) and not any(c.call_id == call_id for c in await _visible_calls(edge, who)):
        raise missing
    try:
        found = await edge.hang_up(who.tenant_id, call_id)
    except Unavailable as exc:
        raise _unavailable(exc, who) from exc
    except CallRefused as exc:
        raise _refused(exc, who) from exc
    if not found:
        raise missing
    log.info(
        "call hung up",
        extra={"event": "call_hangup_requested", "tenant_id": who.tenant_id, "call_id": call_id},
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
