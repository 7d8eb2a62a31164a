"""pick_entry: business hours in the tenant's zone, across DST changes and on holidays."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.directory.models import Number, Tenant
from shared.directory.services.business_hours import (
    holiday_on,
    is_open,
    local_time,
    pick_entry,
    resolve_entry,
)
from shared.values import EntryPoint, new_ulid

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
TID = new_ulid(T0, bytes(10))
OPEN = EntryPoint(type="menu", id=new_ulid(T0, b"\x00" * 9 + b"\x01"))
CLOSED = EntryPoint(type="user", id=new_ulid(T0, b"\x00" * 9 + b"\x02"))
WEEKDAYS = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def tenant(**kw: object) -> Tenant:
    data: dict[str, object] = {
        "id": TID,
        "name": "Acme",
        "status": "active",
        "created_at": T0,
        "region": "eus",
        "time_zone": "America/New_York",
        "business_hours": WEEKDAYS,
        "open_entry": OPEN,
        "closed_entry": CLOSED,
    }
    data.update(kw)
    return Tenant.model_validate(data)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Friday 7 March 2025, EST (UTC-5)
        ("2025-03-07T13:59:00Z", CLOSED),  # 08:59 local
        ("2025-03-07T14:00:00Z", OPEN),  # 09:00 local
        ("2025-03-07T21:59:00Z", OPEN),  # 16:59 local
        ("2025-03-07T22:00:00Z", CLOSED),  # 17:00 local: end is exclusive
        # Sunday 9 March: DST starts; closed all day
        ("2025-03-09T15:00:00Z", CLOSED),
        # Monday 10 March, EDT (UTC-4): the same wall-clock hours are one UTC hour earlier
        ("2025-03-10T13:00:00Z", OPEN),  # 09:00 EDT (would be 08:00 in EST)
        ("2025-03-10T12:59:00Z", CLOSED),  # 08:59 EDT
        ("2025-03-10T21:00:00Z", CLOSED),  # 17:00 EDT (would be 16:00 in EST)
        ("2025-03-10T20:59:00Z", OPEN),
        # Monday 3 November 2025, back in EST
        ("2025-11-03T13:30:00Z", CLOSED),  # 08:30 EST
        ("2025-11-03T14:00:00Z", OPEN),  # 09:00 EST
    ],
)
def test_pick_entry_across_dst(at: str, expected: EntryPoint) -> None:
    assert pick_entry(tenant(), utc(at)) == expected


def test_ranges_on_the_dst_change_days() -> None:
    # spring forward: 02:00-03:00 local does not exist on 9 March 2025
    t = tenant(business_hours={"sun": ["01:00-04:00"]})
    assert pick_entry(t, utc("2025-03-09T06:59:00Z")) == OPEN  # 01:59 EST
    assert pick_entry(t, utc("2025-03-09T07:00:00Z")) == OPEN  # 03:00 EDT
    assert pick_entry(t, utc("2025-03-09T08:00:00Z")) == CLOSED  # 04:00 EDT
    # fall back: 01:00-02:00 local happens twice on 2 November 2025; open both times
    t = tenant(business_hours={"sun": ["01:00-02:00"]})
    assert local_time(t, utc("2025-11-02T05:30:00Z")).hour == 1
    assert pick_entry(t, utc("2025-11-02T05:30:00Z")) == OPEN  # 01:30 EDT
    assert pick_entry(t, utc("2025-11-02T06:30:00Z")) == OPEN  # 01:30 EST
    assert pick_entry(t, utc("2025-11-02T07:00:00Z")) == CLOSED  # 02:00 EST
    assert pick_entry(t, utc("2025-11-02T04:59:00Z")) == CLOSED  # 00:59 EDT


def test_holiday_closes_the_whole_local_day() -> None:
    t = tenant(holidays=[{"date": "2025-12-25", "name": "Christmas"}, "2025-07-04"])
    # Thursday 25 Dec 10:00 EST would be open
    assert pick_entry(t, utc("2025-12-25T15:00:00Z")) == CLOSED
    assert pick_entry(t, utc("2025-12-24T15:00:00Z")) == OPEN
    assert holiday_on(t, dt.date(2025, 12, 25)) == "Christmas"
    assert holiday_on(t, dt.date(2025, 7, 4)) == ""
    assert holiday_on(t, dt.date(2025, 7, 5)) is None
    # Friday 4 July 2025, in EDT
    assert pick_entry(t, utc("2025-07-04T14:00:00Z")) == CLOSED


def test_holiday_uses_the_local_date_not_utc() -> None:
    t = tenant(business_hours=None, holidays=["2025-12-25"])  # no schedule: always open except holidays
    assert pick_entry(t, utc("2025-12-26T03:00:00Z")) == CLOSED  # 25 Dec 22:00 local
    assert pick_entry(t, utc("2025-12-26T05:30:00Z")) == OPEN  # 26 Dec 00:30 local
    assert pick_entry(t, utc("2025-12-25T04:59:00Z")) == OPEN  # 24 Dec 23:59 local


def test_other_zones_and_midnight_ranges() -> None:
    t = tenant(time_zone="Europe/Berlin", business_hours={"sat": ["22:00-24:00"], "sun": ["00:00-02:00"]})
    # Berlin DST ends 26 Oct 2025; Saturday 25 Oct 23:30 CEST = 21:30Z
    assert is_open(t, utc("2025-10-25T21:30:00Z"))
    assert is_open(t, utc("2025-10-25T23:30:00Z"))  # Sunday 01:30 CEST
    assert not is_open(t, utc("2025-10-26T01:00:00Z"))  # Sunday 02:00 CET
    assert not is_open(t, utc("2025-10-25T19:59:00Z"))  # Saturday 21:59 CEST
    t = tenant(time_zone="Asia/Kolkata", business_hours={"mon": ["09:30-10:00"]})  # UTC+5:30
    assert is_open(t, utc("2025-03-10T04:00:00Z"))
    assert not is_open(t, utc("2025-03-10T03:59:00Z"))


def test_missing_entries_and_resolve_entry() -> None:
    t = tenant(closed_entry=None)
    assert pick_entry(t, utc("2025-03-08T15:00:00Z")) is None  # Saturday, nothing configured when closed
    assert tenant(business_hours={}).business_hours == {}
    assert pick_entry(tenant(business_hours={}), utc("2025-03-10T15:00:00Z")) == CLOSED
    n = Number.model_validate({"number": "+15550001111", "tenant_id": TID, "created_at": T0})
    assert resolve_entry(n, t, utc("2025-03-10T15:00:00Z")) == OPEN
    own = EntryPoint(type="user", id=TID)
    n2 = n.model_copy(update={"entry": own})
    assert resolve_entry(n2, t, utc("2025-03-08T15:00:00Z")) == own


def test_naive_time_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        pick_entry(tenant(), dt.datetime(2025, 3, 10, 12, 0))
