"""Which entry point answers a call right now: pure functions over a tenant and a time.

All wall-clock reasoning happens in the tenant's IANA time zone through `zoneinfo`, so ranges
keep their local meaning across DST changes ("09:00-17:00" is 09:00-17:00 local on both sides of
the change). A holiday (a local date) closes the tenant all day. `business_hours=None` means
always open (except holidays); a weekday without ranges is closed.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from shared.directory.models.number import Number
from shared.directory.models.tenant import Tenant
from shared.values import EntryPoint, Weekday, minutes_of


def local_time(tenant: Tenant, at: dt.datetime) -> dt.datetime:
    """`at` (aware) as wall-clock time in the tenant's zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("pass an aware datetime (UTC), not a naive one")
    return at.astimezone(ZoneInfo(tenant.time_zone))


def holiday_on(tenant: Tenant, day: dt.date) -> str | None:
    """The holiday's name ('' if unnamed) when `day` (local) is a holiday, else None."""
    for h in tenant.holidays:
        if h.date == day:
            return h.name or ""
    return None


def is_open(tenant: Tenant, at: dt.datetime) -> bool:
    local = local_time(tenant, at)
    if holiday_on(tenant, local.date()) is not None:
        return False
    if tenant.business_hours is None:
        return True
    minute = local.hour * 60 + local.minute
    ranges = tenant.business_hours.get(Weekday.of(local.date()), [])
    return any(minutes_of(r.start) <= minute < minutes_of(r.end) for r in ranges)


def pick_entry(tenant: Tenant, at: dt.datetime) -> EntryPoint | None:
    """`open_entry` while open, `closed_entry` while closed (either may be None: not configured)."""
    return tenant.open_entry if is_open(tenant, at) else tenant.closed_entry


def resolve_entry(number: Number, tenant: Tenant, at: dt.datetime) -> EntryPoint | None:
    """Where a call to `number` starts: its own entry if it has one, else the tenant's by hours."""
    if number.entry is not None:
        return number.entry
    return pick_entry(tenant, at)


__all__ = ["holiday_on", "is_open", "local_time", "pick_entry", "resolve_entry"]
