"""Pricing of the legs the edge places: `RateTableCache` over an in-memory blob store, the edge's
`price_placed` and `refresh_rates` (pure apart from the fake store)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from decimal import Decimal
from typing import Any, cast

import pytest

from shared.billing.services.rates import RateTableCache, build_table, parse_deck, price_leg, sha256_hex
from shared.errors import NotFoundError, Unavailable
from shared.history.models.call import Leg
from shared.logs import JsonFormatter
from sip_edge.__main__ import refresh_rates
from sip_edge.call_flow import EdgeDeps, price_placed

NOW = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
DECK = b"prefix,rate_per_min,currency\n1,0.0090,USD\n1555,0.0100,USD\n44,0.0150,USD\n4479,0.1200,EUR\n"


class MemoryBlobs:
    """A blob reader over a dict; `down` makes every read fail like unreachable storage."""

    def __init__(self) -> None:
        self.blobs: dict[tuple[str, str], bytes] = {}
        self.down = False

    async def download(self, container: str, name: str) -> bytes:
        if self.down:
            raise Unavailable("blob storage: connection refused")
        try:
            return self.blobs[(container, name)]
        except KeyError:
            raise NotFoundError(f"{container}/{name}") from None

    def publish(self, version: int, deck: bytes) -> None:
        table = build_table(
            parse_deck(deck), version=version, source="t", source_sha256=sha256_hex(deck), now=NOW
        )
        self.blobs[("rates", f"v{version}.json")] = table.model_dump_json().encode()
        pointer = {
            "version": version,
            "blob": f"v{version}.json",
            "source_sha256": table.source_sha256,
            "published_at": "2026-05-01T00:00:00Z",
            "rows": len(table.rates),
        }
        self.blobs[("rates", "current.json")] = json.dumps(pointer).encode()


def leg(kind: str = "forward", destination: str | None = "+447911123456", talk_s: float | None = 61) -> Leg:
    return Leg(
        leg_id=f"{kind}-{destination}-{talk_s}",
        kind=kind,  # type: ignore[arg-type]
        destination=destination,
        started_at=NOW,
        answered_at=None if talk_s is None else NOW + dt.timedelta(seconds=2),
        ended_at=NOW + dt.timedelta(seconds=2 + (talk_s or 0)),
        outcome="answered" if talk_s is not None else "no_answer",
    )


def deps_with(rates: RateTableCache | None) -> EdgeDeps:
    # price_placed reads only `rates`; the other ports are not touched
    return cast(EdgeDeps, type("Deps", (), {"rates": rates})())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_cache_without_a_published_table_prices_nothing() -> None:
    cache = RateTableCache(MemoryBlobs())
    assert run(cache.refresh()) is False
    assert cache.table is None and cache.price(leg()) is None


def test_cache_loads_new_versions_only_and_keeps_the_table_when_storage_is_down() -> None:
    blobs = MemoryBlobs()
    blobs.publish(1, DECK)
    cache = RateTableCache(blobs)
    assert run(cache.refresh()) is True and cache.table is not None and cache.table.version == 1
    assert run(cache.refresh()) is False  # same version: not reloaded
    blobs.publish(2, DECK.replace(b"4479,0.1200,EUR", b"4479,0.3000,EUR"))
    assert run(cache.refresh()) is True and cache.table.version == 2
    blobs.down = True
    with pytest.raises(Unavailable):
        run(cache.refresh())
    price = cache.price(leg())
    assert price is not None and price.rate_per_min == Decimal("0.3000")


def test_cache_ignores_a_pointer_or_table_that_does_not_validate() -> None:
    blobs = MemoryBlobs()
    blobs.publish(1, DECK)
    cache = RateTableCache(blobs)
    run(cache.refresh())
    blobs.blobs[("rates", "current.json")] = b"{not json"
    assert run(cache.refresh()) is False and cache.table.version == 1  # type: ignore[union-attr]
    blobs.publish(2, DECK)
    blobs.blobs[("rates", "v2.json")] = b'{"version": 2}'
    assert run(cache.refresh()) is False and cache.table.version == 1  # type: ignore[union-attr]


def test_price_edge_cases() -> None:
    blobs = MemoryBlobs()
    blobs.publish(1, DECK)
    cache = RateTableCache(blobs)
    run(cache.refresh())
    table = cache.table
    assert table is not None
    assert price_leg(table, "anonymous", 10) is None  # no digits
    assert price_leg(table, "+3", 10) is None  # shorter than any matching prefix
    assert price_leg(table, "sip:+4479@x", 1)[:2] == (Decimal("0.1200"), "EUR")  # type: ignore[index]
    assert price_leg(table, "+15551234567", 0.001)[2] == Decimal("0.0002")  # type: ignore[index]
    with pytest.raises(ValueError):
        price_leg(table, "+15551234567", float("nan"))


def test_price_placed_prices_answered_placed_legs_only() -> None:
    blobs = MemoryBlobs()
    blobs.publish(1, DECK)
    cache = RateTableCache(blobs)
    run(cache.refresh())
    caller = leg("caller", None)
    forward = leg("forward", "+447911123456", 61)  # 0.12/min * 61 s = 0.122
    c2c = leg("click_to_call", "+15551234567", 30)  # 0.01/min * 30 s = 0.005
    unanswered = leg("forward", "+447911123456", None)
    unpriced = leg("forward", "+33123456789", 30)
    legs = [caller, forward, c2c, unanswered, unpriced]
    price_placed(deps_with(cache), legs)
    assert caller.price is None and unanswered.price is None and unpriced.price is None
    assert forward.price is not None
    assert (forward.price.rate_per_min, forward.price.currency, forward.price.cost) == (
        Decimal("0.1200"),
        "EUR",
        Decimal("0.1220"),
    )
    assert c2c.price is not None and c2c.price.cost == Decimal("0.0050")


def test_price_placed_without_a_cache_leaves_legs_alone() -> None:
    forward = leg()
    price_placed(deps_with(None), [forward])
    assert forward.price is None


def test_edge_refresh_logs_a_warning_when_storage_is_down(caplog: pytest.LogCaptureFixture) -> None:
    blobs = MemoryBlobs()
    blobs.down = True
    cache = RateTableCache(blobs)
    with caplog.at_level(logging.WARNING, logger="sip_edge"):
        run(refresh_rates(cache))  # does not raise
    events = [json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "sip_edge"]
    assert events and events[0]["event"] == "rates_unavailable" and events[0]["version"] is None
    assert cache.table is None
