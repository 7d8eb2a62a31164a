"""/regions: the regions a tenant may be homed in (public; the sign-up form's choices)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from ..deps import Ctx

router = APIRouter(tags=["auth"])


class RegionsOut(BaseModel):
    current: str
    """The region this API serves (the default for sign-up)."""
    regions: list[str]
    """Every known region, sorted; sign-up in another one is redirected there (307)."""


@router.get("/regions", response_model=RegionsOut)
async def list_regions(ctx: Ctx) -> RegionsOut:
    s = ctx.settings
    return RegionsOut(current=s.region, regions=sorted(s.region_base_urls))
