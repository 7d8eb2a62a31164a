"""The outbound policy's pure rules: country, premium, satellite, home country, spend cap math,
the month's spend from call records, and the tenant's pacing and share of the edge's legs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shared.calls.errors import (
    CountryNotAllowed,
    ForwardingNumberRefused,
    NotDialable,
    PremiumRateRefused,
    SatelliteRefused,
)
from shared.calls.models import OutboundPolicy, OutboundPolicyIn
from shared.calls.services.outbound_policy import (
    MIN_CALL_S,
    call_budget_s,
    check_number,
    classify,
    effective_countries,
    home_country,
    month_spend,
    month_start,
    refuse_blocked_forwarding,
)
from shared.calls.services.pacing import CallPacer
from shared.history.models.call import CallRecord, Leg, LegPrice
from sip_edge.shares import TenantShares

T0 = dt.datetime(2026, 12, 3, 15, 0, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("number", "country", "kind"),
    [
        ("+12125551234", "US", "ok"),  # New York
        ("+15550003001", "US", "ok"),  # unassigned NANP range: the +1 main country
        ("+18765551234", "JM", "ok"),  # Jamaica shares +1 with the US: told apart by area code
        ("+447700900123", "GB", "ok"),
        ("+19005551234", "US", "premium"),  # US 900
        ("+449098790000", "GB", "premium"),  # UK 09
        ("+33899000000", "FR", "premium"),
        ("+97912345678", None, "premium"),  # International Premium Rate Service
        ("+80812345678", None, "premium"),  # International Shared Cost Service
        ("+870772000000", None, "satellite"),  # Inmarsat
        ("+88163000000", None, "satellite"),  # Iridium
        ("+882345678901", None, "satellite"),  # International Networks
        ("+883510001234", None, "satellite"),
        ("+8180", "JP", "not_dialable"),  # too short to be a number
    ],
)
def test_classify(number: str, country: str | None, kind: str) -> None:
    got = classify(number)
    assert (got.country, got.kind) == (country, kind)


def test_only_the_home_country_by_default_and_the_list_when_set() -> None:
    assert effective_countries(OutboundPolicy(), "US") == ["US"]
    assert effective_countries(OutboundPolicy(), None) == []
    assert effective_countries(OutboundPolicyIn(allowed_countries=["GB", "CA"]), "US") == ["CA", "GB"]


def test_home_country_from_the_first_number_else_the_locale() -> None:
    assert home_country(["+447700900123", "+12125551234"], "en-US") == "GB"
    assert home_country([], "en-US") == "US"
    assert home_country([], "de-DE") == "DE"
    assert home_country([], "en") is None


def test_check_number_refuses_other_countries_premium_and_satellite() -> None:
    allowed = ["US"]
    assert check_number("+12125551234", "destination", allowed).country == "US"
    with pytest.raises(CountryNotAllowed) as country:
        check_number("+18765551234", "destination", allowed)
    assert country.value.error_id == "destination-country-not-allowed" and country.value.status == 403
    assert country.value.details["country"] == "JM" and country.value.details["leg"] == "destination"
    with pytest.raises(PremiumRateRefused) as premium:
        check_number("+19005551234", "forwarding_number", allowed)  # premium even in an allowed country
    assert premium.value.error_id == "destination-premium-rate"
    assert "your forwarding number" in premium.value.detail
    with pytest.raises(SatelliteRefused) as satellite:
        check_number("+88163000000", "destination", ["US", "GB"])
    assert satellite.value.error_id == "destination-satellite"
    with pytest.raises(NotDialable) as short:
        check_number("+8180", "destination", ["JP"])
    assert short.value.status == 422


def test_forwarding_numbers_are_never_premium_satellite_or_undialable() -> None:
    refuse_blocked_forwarding(["+12125551234", "+18765551234", "+447700900123"])  # any country
    for bad, at in ((["+12125551234", "+19005551234"], 1), (["+88163000000"], 0), (["+8180"], 0)):
        with pytest.raises(ForwardingNumberRefused) as refused:
            refuse_blocked_forwarding(bad)
        assert refused.value.status == 422 and refused.value.error_id == "forwarding-number-not-allowed"
        assert refused.value.pointer == f"/forwarding_numbers/{at}"


def test_a_policy_refuses_duplicate_and_lower_case_countries() -> None:
    with pytest.raises(ValueError):
        OutboundPolicyIn(allowed_countries=["US", "US"])
    with pytest.raises(ValueError):
        OutboundPolicyIn(allowed_countries=["us"])
    with pytest.raises(ValueError):
        OutboundPolicyIn(max_call_duration_s=10)


# --------------------------------------------------------------------------- spend cap


def test_budget_is_the_share_of_what_is_left_at_the_rate_capped_by_the_longest_call() -> None:
    # 10.00 left, 3 calls at once, 0.05/min for both legs: 10 / 3 / 0.05 * 60 = 4000 s, capped at 3600
    assert call_budget_s(Decimal(50), Decimal(40), Decimal("0.05"), 3, 3600) == 3600
    # 1.00 left, 2 at once, 0.10/min: 0.5 / 0.1 * 60 = 300 s
    assert call_budget_s(Decimal(50), Decimal(49), Decimal("0.10"), 2, 3600) == 300
    # a free destination: only the longest call applies
    assert call_budget_s(Decimal(1), Decimal("0.5"), Decimal(0), 1, 120) == 120


def test_budget_refuses_at_the_cap_and_when_only_seconds_are_left() -> None:
    assert call_budget_s(Decimal(50), Decimal(50), Decimal("0.01"), 1, 3600) is None
    assert call_budget_s(Decimal(50), Decimal("50.5"), Decimal(0), 1, 3600) is None
    assert call_budget_s(Decimal(0), Decimal(0), Decimal(0), 1, 3600) is None
    # 0.01 left at 0.06/min: 10 s, under the minimum
    assert call_budget_s(Decimal(1), Decimal("0.99"), Decimal("0.06"), 1, 3600) is None
    # exactly the minimum is still a call
    rate = Decimal("0.02")
    left = rate * MIN_CALL_S / 60
    assert call_budget_s(Decimal(1), Decimal(1) - left, rate, 1, 3600) == MIN_CALL_S


def test_calls_at_once_cannot_pass_the_cap_together() -> None:
    cap, rate, n = Decimal(5), Decimal("0.30"), 4
    each = call_budget_s(cap, Decimal(0), rate, n, 14400)
    assert each is not None
    assert n * rate * each / 60 <= cap


def _call(month_day: int, *prices: tuple[str, str]) -> CallRecord:
    start = dt.datetime(2026, 12, month_day, 10, tzinfo=dt.UTC)
    legs = [
        Leg(
            leg_id=f"l{i}",
            kind="forward",
            destination="+12125551234",
            started_at=start,
            price=LegPrice(rate_per_min=Decimal("0.01"), currency=cur, cost=Decimal(cost)),
        )
        for i, (cost, cur) in enumerate(prices)
    ]
    legs.append(Leg(leg_id="caller", kind="caller", started_at=start))
    return CallRecord(
        call_id=f"c{month_day}",
        tenant_id="t",
        number_called="+15557770100",
        started_at=start,
        legs=legs,
        disposition="answered",
    )


def test_month_spend_sums_priced_legs_in_the_currency() -> None:
    calls = [_call(1, ("0.1000", "USD"), ("0.0250", "USD")), _call(2, ("9.0000", "EUR")), _call(3)]
    assert month_spend(calls, "USD") == Decimal("0.1250")
    assert month_spend(calls, "EUR") == Decimal("9")
    assert month_spend([], "USD") == 0


def test_month_start_is_the_first_of_the_utc_month() -> None:
    assert month_start(T0) == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    east = dt.datetime(2027, 1, 1, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # still December UTC
    assert month_start(east) == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


# --------------------------------------------------------------------------- pacing


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_pacer_admits_the_limit_per_window_and_says_when_to_retry() -> None:
    clock = Clock()
    pacer = CallPacer(clock, window_s=60)
    assert [pacer.admit("a", 3) for _ in range(3)] == [None, None, None]
    clock.t += 10
    assert pacer.admit("a", 3) == pytest.approx(50)  # the first start leaves the window at +60
    assert pacer.admit("b", 3) is None  # another tenant has its own window
    clock.t += 50  # the three starts at +0 have all left the window
    assert [pacer.admit("a", 3) for _ in range(3)] == [None, None, None]
    assert pacer.admit("a", 3) == pytest.approx(60)


def test_a_refused_start_does_not_move_the_window() -> None:
    clock = Clock()
    pacer = CallPacer(clock, window_s=60)
    assert pacer.admit("a", 1) is None
    for _ in range(30):
        clock.t += 1
        assert pacer.admit("a", 1) is not None
    clock.t += 30
    assert pacer.admit("a", 1) is None


# --------------------------------------------------------------------------- the edge's shares


def test_each_tenant_holds_at_most_its_share_of_the_legs() -> None:
    shares = TenantShares(max_legs=8, share=0.5)
    assert shares.cap == 4
    assert shares.reserve("a", "c1", 2) and shares.reserve("a", "c2", 2)
    assert not shares.reserve("a", "c3", 2)  # 4 of 4
    assert not shares.take("a")  # its inbound calls too
    assert shares.take("b") and shares.used("b") == 1  # another tenant still has room
    # a reserved call's dials draw on its reservation, not on the share again
    first = shares.leg("a", "c1")
    second = shares.leg("a", "c1")
    assert first is not None and second is not None and shares.used("a") == 4
    assert shares.leg("a", "c1") is None  # a third leg of c1 would pass the share
    first()
    first()  # idempotent
    assert shares.leg("a", "c1") is not None
    shares.release_call("c1")
    assert shares.used("a") == 2 and shares.take("a")
    shares.give_back("a")
    shares.release_call("c2")
    assert shares.used("a") == 0 and shares.snapshot() == {"b": 1}


def test_a_share_is_at_least_one_click_to_call() -> None:
    assert TenantShares(max_legs=4, share=0.1).cap == 2
    with pytest.raises(ValueError):
        TenantShares(max_legs=8, share=0)
