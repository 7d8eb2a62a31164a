"""/stats: the tenant's daily call series (UTC days), for owners and admins."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from shared.history.models.views import StatsOut
from shared.history.ports import MAX_STATS_DAYS
from shared.history.services.access import totals_of

from ..deps import Ctx, Who
from ..history_deps import Access, invalid_query

router = APIRouter(prefix="/stats", tags=["stats"])

DEFAULT_DAYS = 30


@router.get(
    "", response_model=StatsOut, responses={403: {"description": "members cannot see the tenant's stats"}}
)
async def get_stats(
    access: Access,
    ctx: Ctx,
    who: Who,
    from_day: Annotated[
        dt.date | None, Query(alias="from", description="first UTC day (default: 29 days before `to`)")
    ] = None,
    to_day: Annotated[
        dt.date | None, Query(alias="to", description="last UTC day, inclusive (default: today)")
    ] = None,
) -> StatsOut:
    """Calls by disposition and direction, minutes, seconds and voicemails per day, zeros included."""
    span = dt.timedelta(days=DEFAULT_DAYS - 1)
    if to_day is None:
        to_day = ctx.clock.now().astimezone(dt.UTC).date()
    if from_day is None:
        from_day = to_day - span if to_day - dt.date.min > span else dt.date.min
    if to_day < from_day:
        raise invalid_query("to", "`to` must not be before `from`")
    if (to_day - from_day).days + 1 > MAX_STATS_DAYS:
        raise invalid_query("to", f"at most {MAX_STATS_DAYS} days per request")
    days = await access.stats(who, from_day, to_day)
    return StatsOut(from_day=from_day, to_day=to_day, days=days, totals=totals_of(days, from_day))
