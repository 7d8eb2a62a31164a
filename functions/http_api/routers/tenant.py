"""The caller's tenant: read and patch its settings (If-Match = the document revision)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from shared.directory.models.tenant import TenantOut, TenantPatch

from ..deps import Ctx, IfMatch, Who, set_etag

router = APIRouter(tags=["tenant"])


@router.get("/tenant", response_model=TenantOut)
async def get_tenant(ctx: Ctx, who: Who, response: Response) -> TenantOut:
    got = await ctx.tenants.get(who)
    set_etag(response, got.revision)
    return TenantOut.model_validate(got.doc.model_dump())


@router.patch(
    "/tenant",
    response_model=TenantOut,
    responses={403: {"description": "members cannot"}, 412: {"description": "stale If-Match"}},
)
async def patch_tenant(
    body: TenantPatch, ctx: Ctx, who: Who, expected: IfMatch, response: Response
) -> TenantOut:
    got = await ctx.tenants.update(who, body, expected)
    set_etag(response, got.revision)
    return TenantOut.model_validate(got.doc.model_dump())
