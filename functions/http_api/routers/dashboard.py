"""/dashboard: the caller's summary for the portal's home page and its navigation badges."""

from __future__ import annotations

from fastapi import APIRouter

from shared.history.services.dashboard import DashboardOut

from ..deps import Ctx, Who

router = APIRouter(tags=["dashboard"])


@router.get("/dashboard", response_model=DashboardOut)
async def get_dashboard(ctx: Ctx, who: Who) -> DashboardOut:
    """Today's calls (the tenant's local day; members count their own), unheard voicemails and
    unread activities of the caller, and the trial's end and days left."""
    return await ctx.dashboard.dashboard(who)
