"""Rate deck parsing and longest-prefix pricing (pure)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from shared.billing.services.rates import build_table, leg_price, parse_deck, price_leg, sha256_hex
from shared.history.models.call import Leg

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)

DECK = b"""prefix,rate_per_min,currency
# comment
1,0.0090,USD
1555,0.0100,usd
44,0.0150,USD
447,0.0450,USD
4479,0.1200,EUR
"""


def table(deck: bytes = DECK):
    parsed = parse_deck(deck)
    assert parsed.usable, parsed.problem
    return build_table(parsed, version=1, source="test", source_sha256=sha256_hex(deck), now=NOW)


def test_longest_prefix_wins() -> None:
    t = table()
    assert price_leg(t, "+447911123456", 60) == (Decimal("0.1200"), "EUR", Decimal("0.1200"))
    assert price_leg(t, "+447011123456", 60) == (Decimal("0.0450"), "USD", Decimal("0.0450"))
    assert price_leg(t, "+442071234567", 60)[0] == Decimal("0.0150")
    assert price_leg(t, "+15551234567", 60)[:2] == (Decimal("0.0100"), "USD")
    assert price_leg(t, "+12125550000", 60)[0] == Decimal("0.0090")
    assert price_leg(t, "+33123456789", 60) is None


def test_cost_is_per_started_second_rounded_half_up() -> None:
    t = table()
    # 0.0150/min * 61 s = 0.01525 -> 0.0153 (half up, 4 decimals)
    assert price_leg(t, "+442071234567", 60.2)[2] == Decimal("0.0153")
    assert price_leg(t, "+442071234567", 0)[2] == Decimal("0.0000")
    with pytest.raises(ValueError):
        price_leg(t, "+442071234567", -1)


def test_leg_price_uses_destination_and_talk_time() -> None:
    t = table()
    start = NOW
    leg = Leg(
        leg_id="l1",
        kind="forward",
        destination="+447911123456",
        started_at=start,
        answered_at=start + dt.timedelta(seconds=5),
        ended_at=start + dt.timedelta(seconds=125),
        outcome="answered",
    )
    price = leg_price(t, leg)
    assert price is not None
    assert (price.rate_per_min, price.currency, price.cost) == (Decimal("0.1200"), "EUR", Decimal("0.2400"))
    unanswered = leg.model_copy(update={"answered_at": None})
    assert leg_price(t, unanswered).cost == Decimal("0")  # type: ignore[union-attr]
    assert leg_price(t, leg.model_copy(update={"destination": None})) is None


def test_bad_rows_are_reported_with_line_numbers() -> None:
    deck = DECK + b"abc,0.1,USD\n49,-1,USD\n49,0.1,US\n44,0.2,USD\n33,0.1\n"
    parsed = parse_deck(deck)
    assert parsed.usable
    assert len(parsed.entries) == 5
    assert [b.line for b in parsed.bad] == [8, 9, 10, 11, 12]
    assert "prefix" in parsed.bad[0].reason
    assert "duplicate prefix 44 (first on line 5)" in parsed.bad[3].reason
    assert "3 columns" in parsed.bad[4].reason


@pytest.mark.parametrize(
    "deck",
    [b"", b"prefix,rate,currency\n", b"\xff\xfe garbage", b"x,y,z\n1,a,USD\n2,b,USD\n3,0.1,USD\n"],
)
def test_unusable_decks(deck: bytes) -> None:
    parsed = parse_deck(deck)
    assert not parsed.usable and parsed.problem
