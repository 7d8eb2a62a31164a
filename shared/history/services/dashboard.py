"""The dashboard of the caller: today's calls in the tenant's time zone, the unheard voicemails
and unread activities of the caller, and the trial.

"Today" is the tenant's local calendar day (`Tenant.time_zone`), counted from the call records
with the caller's visibility (owners and admins: the tenant's calls; members: their own). The
stored daily stats are per UTC day and for managers only, so they cannot answer this exactly.
Every figure is a count in the History DB over an index (`count_calls`, `count_activities`,
`unread_count`), so the cost does not grow with the number of documents read and decoded; the
five counts run concurrently.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel

from shared.directory.models.tenant import Tenant, TenantStatus
from shared.directory.services.users import TenantService
from shared.history.services.access import CallFilters, HistoryAccess
from shared.ports import Clock
from shared.security.tokens import Principal


class TodayOut(BaseModel):
    calls: int
    missed: int
    voicemails: int


class TrialOut(BaseModel):
    status: TenantStatus
    ends_at: AwareDatetime | None
    days_left: int | None


class DashboardOut(BaseModel):
    today: TodayOut
    unheard_voicemails: int
    unread_activities: int
    trial: TrialOut


def local_day(now: dt.datetime, time_zone: str) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the calendar day containing `now` in `time_zone`, in UTC (pure; DST-aware)."""
    zone = ZoneInfo(time_zone)
    day = now.astimezone(zone).date()
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def trial_of(tenant: Tenant, now: dt.datetime) -> TrialOut:
    """The trial's end and whole days left (rounded up, 0 once ended); days_left is None outside
    a trial (pure)."""
    days_left: int | None = None
    if tenant.status is TenantStatus.TRIAL and tenant.trial_ends_at is not None:
        seconds = (tenant.trial_ends_at - now).total_seconds()
        days_left = max(0, math.ceil(seconds / 86400))
    return TrialOut(status=tenant.status, ends_at=tenant.trial_ends_at, days_left=days_left)


class DashboardService:
    def __init__(self, tenants: TenantService, access: HistoryAccess, clock: Clock) -> None:
        self.tenants, self.access, self.clock = tenants, access, clock

    async def dashboard(self, who: Principal) -> DashboardOut:
        now = self.clock.now()
        tenant = (await self.tenants.get(who)).doc
        since, until = local_day(now, tenant.time_zone)
        calls, missed, voicemails, unheard, unread = await asyncio.gather(
            self.access.count_calls(who, CallFilters(since=since, until=until)),
            self.access.count_calls(who, CallFilters(since=since, until=until, disposition="missed")),
            self.access.count_calls(who, CallFilters(since=since, until=until, disposition="voicemail")),
            self.access.count_voicemails(who, heard=False),
            self.access.unread_activities(who),
        )
        return DashboardOut(
            today=TodayOut(calls=calls, missed=missed, voicemails=voicemails),
            unheard_voicemails=unheard,
            unread_activities=unread,
            trial=trial_of(tenant, now),
        )
