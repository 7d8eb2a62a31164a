"""Every list in tenant configuration is bounded, so the largest valid documents stay small
(a ConfigDB value is at most 1 MiB; snapshot frames are cut at 1 MiB)."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from shared.directory.models.ivr import IvrMenuCreate
from shared.directory.models.tenant import Tenant, TenantPatch
from shared.directory.models.user import UserCreate
from shared.values import MAX_RANGES_PER_DAY, Weekday

NOW = dt.datetime(2026, 12, 3, tzinfo=dt.UTC)


def ranges(n: int) -> list[str]:
    """`n` touching 20-minute ranges from 00:00."""
    out = []
    for i in range(n):
        start, end = i * 20, (i + 1) * 20
        out.append(f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}")
    return out


def test_business_hours_take_at_most_12_ranges_a_day() -> None:
    assert MAX_RANGES_PER_DAY == 12
    ok = TenantPatch(business_hours={"mon": ranges(12)})
    assert ok.business_hours is not None and len(ok.business_hours[Weekday("mon")]) == 12
    with pytest.raises(ValidationError, match="at most 12 items") as too_many:
        TenantPatch(business_hours={"tue": ranges(13)})
    assert too_many.value.errors()[0]["loc"][:2] == ("business_hours", "tue")
    with pytest.raises(ValidationError, match="at most 12 items"):
        TenantPatch(business_hours={"mon": ranges(72)})  # 24 h of 20-minute ranges


def test_the_largest_valid_tenant_document_stays_under_64_kb() -> None:
    start = dt.date(2027, 1, 1)
    tenant = Tenant(
        id="01J9Z3K4M5N6P7Q8R9S0T1V2W3",
        name="N" * 100,
        created_at=NOW,
        trial_ends_at=NOW,
        region="r" * 32,
        time_zone="America/Argentina/ComodRivadavia",
        business_hours={day.value: ranges(MAX_RANGES_PER_DAY) for day in Weekday},
        holidays=[
            {"date": (start + dt.timedelta(days=i)).isoformat(), "name": "H" * 100} for i in range(366)
        ],
        billing_account_id="b" * 200,
    )
    size = len(tenant.model_dump_json())
    assert size < 64 * 1024, size
    with pytest.raises(ValidationError, match="at most 366 items"):
        TenantPatch(holidays=[(start + dt.timedelta(days=i)).isoformat() for i in range(367)])


def test_menus_and_forwarding_lists_are_bounded() -> None:
    options = [{"digit": d, "action": {"type": "hang_up"}} for d in "0123456789*#"]
    assert len(IvrMenuCreate(name="m", greeting={"text": "hi"}, options=options).options) == 12
    with pytest.raises(ValidationError, match="at most 12 items"):
        IvrMenuCreate(name="m", greeting={"text": "hi"}, options=[*options, options[0]])
    numbers = [f"+1555000{i:04d}" for i in range(11)]
    with pytest.raises(ValidationError, match="at most 10 items"):
        UserCreate(name="u", email="u@x.test", forwarding_numbers=numbers)
