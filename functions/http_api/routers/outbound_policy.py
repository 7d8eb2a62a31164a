"""/outbound-policy: the tenant's rules for click-to-call (owners and admins change them).

    GET  /api/v1/outbound-policy    the policy in force (defaults until set), ETag = its revision
    PUT  /api/v1/outbound-policy    replace it whole (If-Match: the ETag read; "0" before the first)

The rules and their checks are `OutboundPolicyService` (shared/calls/services/outbound_policy.py).
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from shared.calls.models import OutboundPolicyIn, OutboundPolicyOut

from ..deps import Ctx, IfMatch, Who, set_etag

router = APIRouter(tags=["calls"])


@router.get("/outbound-policy", response_model=OutboundPolicyOut)
async def get_outbound_policy(ctx: Ctx, who: Who, response: Response) -> OutboundPolicyOut:
    """Which countries click-to-call may ring, the monthly spend cap and what is spent, the
    longest call, and the tenant's concurrent calls and calls per minute."""
    tenant = (await ctx.tenants.get(who)).doc
    out, revision = await ctx.outbound_policy.view(who, tenant)
    set_etag(response, revision)
    return out


@router.put(
    "/outbound-policy",
    response_model=OutboundPolicyOut,
    responses={
        403: {"description": "members cannot"},
        412: {"description": "stale If-Match"},
        422: {"description": "a field is out of bounds, or a country code is unknown"},
    },
)
async def put_outbound_policy(
    body: OutboundPolicyIn, ctx: Ctx, who: Who, expected: IfMatch, response: Response
) -> OutboundPolicyOut:
    """Replace the outbound policy (a field left out takes its default)."""
    tenant = (await ctx.tenants.get(who)).doc
    out, revision = await ctx.outbound_policy.replace(who, tenant, body, expected)
    set_etag(response, revision)
    return out
