"""Pure helpers shared by the History adapters: sort keys, keyset cursors, stats increments.

No I/O here; both adapters (and the unit tests) call these, so the two backends agree on
ordering, cursor format and what a call adds to the daily stats.
"""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import json
import math
import re
from typing import Any

from shared.history.ports import MAX_LIMIT, MAX_STATS_DAYS, DailyStats, InvalidCursor

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
CURSOR_VERSION = 1


def to_us(value: dt.datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (the sort key stored beside documents)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value!r} is naive; History times must be aware (UTC)")
    return (value - _EPOCH) // _US


def scalar(value: Any) -> Any:
    """The stored form of an enum member (its value); anything else unchanged."""
    return value.value if isinstance(value, enum.Enum) else value


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return limit


# --------------------------------------------------------------------------- cursors


def query_fingerprint(kind: str, scope: dict[str, Any]) -> str:
    """A short digest of what a listing was asked, so a cursor cannot be reused for another query."""
    canon = json.dumps([kind, {k: scalar(v) for k, v in scope.items()}], sort_keys=True, default=str)
    return hashlib.sha256(canon.encode()).hexdigest()[:16]


def encode_cursor(fingerprint: str, sort_us: int, doc_id: str) -> str:
    """An opaque, URL-safe cursor pointing just after (sort_us, doc_id) in descending order."""
    raw = json.dumps(
        {"v": CURSOR_VERSION, "f": fingerprint, "t": sort_us, "i": doc_id}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> tuple[int, str]:
    """(sort_us, doc_id) of the last item of the previous page. `InvalidCursor` if malformed or if it
    was issued for a different query (other filters or another tenant)."""
    if not isinstance(cursor, str) or not cursor or len(cursor) > 512:
        raise InvalidCursor("empty or too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        version, fp, sort_us, doc_id = data["v"], data["f"], data["t"], data["i"]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidCursor("not a cursor issued by this API") from exc
    if version != CURSOR_VERSION:
        raise InvalidCursor(f"unsupported version {version!r}")
    if fp != fingerprint:
        raise InvalidCursor("it belongs to a query with other filters")
    if not isinstance(sort_us, int) or isinstance(sort_us, bool) or not isinstance(doc_id, str):
        raise InvalidCursor("malformed position")
    return sort_us, doc_id


# --------------------------------------------------------------------------- stats

_METRIC_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def _metric_part(value: Any) -> str:
    text = str(scalar(value)) if value is not None else "unknown"
    return _METRIC_SAFE.sub("_", text) or "unknown"


def utc_day(value: dt.datetime) -> dt.date:
    return value.astimezone(dt.UTC).date()


def talk_seconds(record: Any) -> int:
    answered, ended = getattr(record, "answered_at", None), getattr(record, "ended_at", None)
    if answered is None or ended is None or ended <= answered:
        return 0
    return math.ceil((ended - answered).total_seconds())


def is_voicemail(record: Any) -> bool:
    return bool(getattr(record, "voicemail_blob", None)) or _metric_part(record.disposition) == "voicemail"


def stats_increments(record: Any) -> tuple[dt.date, dict[str, int]]:
    """The UTC day of a call and what it adds to that day's counters.

    Metric names are flat strings; dotted ones (`disposition.answered`, `direction.inbound`) are
    nested maps in `DailyStats`. They are also valid MongoDB `$inc` paths.
    """
    seconds = talk_seconds(record)
    inc = {
        "calls": 1,
        f"disposition.{_metric_part(record.disposition)}": 1,
        f"direction.{_metric_part(record.direction)}": 1,
        "seconds": seconds,
        "minutes": math.ceil(seconds / 60),
        "voicemails": 1 if is_voicemail(record) else 0,
    }
    return utc_day(record.started_at), inc


def daily_from_metrics(day: dt.date, metrics: dict[str, int]) -> DailyStats:
    """`DailyStats` from flat metrics as produced by `stats_increments` (summed)."""
    out = DailyStats(day=day)
    for name, value in metrics.items():
        group, _, key = name.partition(".")
        if group == "disposition" and key:
            out.by_disposition[key] = out.by_disposition.get(key, 0) + int(value)
        elif group == "direction" and key:
            out.by_direction[key] = out.by_direction.get(key, 0) + int(value)
        elif name in ("calls", "minutes", "seconds", "voicemails"):
            setattr(out, name, getattr(out, name) + int(value))
    return out


def check_day_range(from_day: dt.date, to_day: dt.date) -> list[dt.date]:
    """Every day from `from_day` to `to_day` inclusive; ValueError if reversed or too long."""
    if to_day < from_day:
        raise ValueError(f"from {from_day} is after to {to_day}")
    n = (to_day - from_day).days + 1
    if n > MAX_STATS_DAYS:
        raise ValueError(f"at most {MAX_STATS_DAYS} days per request, asked for {n}")
    return [from_day + dt.timedelta(days=i) for i in range(n)]


def fill_series(days: list[dt.date], found: dict[dt.date, DailyStats]) -> list[DailyStats]:
    return [found.get(day) or DailyStats(day=day) for day in days]
