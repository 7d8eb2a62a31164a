"""The History DB's pure helpers: sort keys, cursors and what a call adds to the daily stats."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.adapters.history.codec import (
    check_day_range,
    daily_from_metrics,
    decode_cursor,
    encode_cursor,
    query_fingerprint,
    stats_increments,
    to_us,
)
from shared.history.models.call import CallRecord
from shared.history.ports import MAX_STATS_DAYS, InvalidCursor

T0 = dt.datetime(2024, 5, 1, 23, 59, 59, 999999, tzinfo=dt.UTC)


def test_to_us_is_exact_and_rejects_naive() -> None:
    assert to_us(dt.datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=dt.UTC)) == 1
    plus2 = dt.timezone(dt.timedelta(hours=2))
    assert to_us(T0) == to_us(T0.astimezone(plus2))
    with pytest.raises(ValueError):
        to_us(dt.datetime(2024, 1, 1))


def test_cursor_round_trip_and_binding() -> None:
    fp = query_fingerprint("calls", {"tenant_id": "T1", "disposition": "missed"})
    cursor = encode_cursor(fp, to_us(T0), "C1")
    assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # URL-safe, no padding
    assert decode_cursor(cursor, fp) == (to_us(T0), "C1")
    other = query_fingerprint("calls", {"tenant_id": "T2", "disposition": "missed"})
    with pytest.raises(InvalidCursor, match="other filters"):
        decode_cursor(cursor, other)
    assert query_fingerprint("calls", {"a": 1, "b": 2}) == query_fingerprint("calls", {"b": 2, "a": 1})
    assert query_fingerprint("calls", {}) != query_fingerprint("activities", {})


def test_stats_increments_use_the_utc_day_and_billed_minutes() -> None:
    local = dt.timezone(dt.timedelta(hours=-5))
    rec = CallRecord(
        call_id="C1",
        tenant_id="T1",
        number_called="+15550000001",
        started_at=dt.datetime(2024, 5, 1, 21, 0, tzinfo=local),  # 02:00 UTC on May 2nd
        answered_at=dt.datetime(2024, 5, 1, 21, 0, 10, tzinfo=local),
        ended_at=dt.datetime(2024, 5, 1, 21, 2, 10, 500000, tzinfo=local),
        disposition="answered",
    )
    day, inc = stats_increments(rec)
    assert day == dt.date(2024, 5, 2)
    assert inc == {
        "calls": 1,
        "disposition.answered": 1,
        "direction.inbound": 1,
        "seconds": 121,
        "minutes": 3,
        "voicemails": 0,
    }
    vm = rec.model_copy(
        update={"disposition": "missed", "answered_at": None, "voicemail_blob": "T1/vm/C1.wav"}
    )
    assert stats_increments(vm)[1]["voicemails"] == 1 and stats_increments(vm)[1]["minutes"] == 0
    stats = daily_from_metrics(day, {**inc, "disposition.missed": 2, "unknown": 9})
    assert (stats.calls, stats.by_disposition) == (1, {"answered": 1, "missed": 2})


def test_day_range() -> None:
    d = dt.date(2024, 1, 1)
    assert check_day_range(d, d) == [d]
    assert len(check_day_range(d, d + dt.timedelta(days=MAX_STATS_DAYS - 1))) == MAX_STATS_DAYS
    with pytest.raises(ValueError):
        check_day_range(d, d + dt.timedelta(days=MAX_STATS_DAYS))
    with pytest.raises(ValueError):
        check_day_range(d, d - dt.timedelta(days=1))
