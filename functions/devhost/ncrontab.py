"""NCRONTAB schedules as Azure Functions timer triggers use them (pure logic, no I/O).

Six fields, seconds first: ``{second} {minute} {hour} {day} {month} {day-of-week}``, evaluated in UTC.
Each field takes ``*``, numbers, ranges ``a-b``, steps ``*/n`` or ``a-b/n`` or ``a/n``, comma lists and
(month, day-of-week) three-letter names. As in NCrontab, day-of-month and day-of-week must both match.
The TimeSpan form ``hh:mm:ss`` (a fixed interval) is accepted too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

# (name, low, high, names offset by low)
_FIELDS: tuple[tuple[str, int, int, list[str] | None], ...] = (
    ("second", 0, 59, None),
    ("minute", 0, 59, None),
    ("hour", 0, 23, None),
    ("day", 1, 31, None),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)
_TIMESPAN = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})$")
_MAX_YEARS = 8


class NcrontabError(ValueError):
    """The expression is not a valid NCRONTAB schedule."""


@dataclass(frozen=True)
class CronSchedule:
    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday

    def next_after(self, after: datetime) -> datetime:
        """First fire time strictly after ``after`` (UTC; naive values are taken as UTC)."""
        t = _as_utc(after).replace(microsecond=0) + timedelta(seconds=1)
        limit = t.year + _MAX_YEARS
        while t.year <= limit:
            if t.month not in self.months:
                t = _first_of_next_month(t)
                continue
            if t.day not in self.days or _cron_weekday(t) not in self.weekdays:
                t = (t + timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            if t.hour not in self.hours:
                t = (t + timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if t.minute not in self.minutes:
                t = (t + timedelta(minutes=1)).replace(second=0)
                continue
            if t.second not in self.seconds:
                t = t + timedelta(seconds=1)
                continue
            return t
        raise NcrontabError("schedule never fires")


@dataclass(frozen=True)
class IntervalSchedule:
    interval: timedelta

    def next_after(self, after: datetime) -> datetime:
        return _as_utc(after) + self.interval


Schedule = CronSchedule | IntervalSchedule


def parse(expression: str) -> Schedule:
    """Parse a six-field NCRONTAB expression (or an ``hh:mm:ss`` interval)."""
    text = expression.strip()
    m = _TIMESPAN.match(text)
    if m:
        h, mi, s = (int(g) for g in m.groups())
        if mi > 59 or s > 59 or (h, mi, s) == (0, 0, 0):
            raise NcrontabError(f"invalid interval {expression!r}")
        return IntervalSchedule(timedelta(hours=h, minutes=mi, seconds=s))
    parts = text.split()
    if len(parts) != 6:
        raise NcrontabError(f"expected 6 fields (seconds first), got {len(parts)} in {expression!r}")
    values = [_parse_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True)]
    return CronSchedule(*values)


def _parse_field(text: str, name: str, low: int, high: int, names: list[str] | None) -> frozenset[int]:
    out: set[int] = set()
    for item in text.split(","):
        if not item:
            raise NcrontabError(f"empty item in {name} field {text!r}")
        rng, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise NcrontabError(f"invalid step in {name} field {item!r}")
            step = int(step_text)
        if rng == "*":
            start, end = low, high
        elif "-" in rng:
            a, b = rng.split("-", 1)
            start, end = _value(a, name, low, high, names), _value(b, name, low, high, names)
            if start > end:
                raise NcrontabError(f"descending range in {name} field {item!r}")
        else:
            start = _value(rng, name, low, high, names)
            end = high if step_text else start
        out.update(range(start, end + 1, step))
    return frozenset(out)


def _value(text: str, name: str, low: int, high: int, names: list[str] | None) -> int:
    t = text.strip().lower()
    if names and t[:3] in names and t.isalpha():
        return names.index(t[:3]) + low
    if not t.isdigit():
        raise NcrontabError(f"invalid {name} value {text!r}")
    v = int(t)
    if name == "day-of-week" and v == 7:
        v = 0
    if not low <= v <= high:
        raise NcrontabError(f"{name} value {v} outside {low}-{high}")
    return v


def _as_utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _cron_weekday(dt: datetime) -> int:
    return (dt.weekday() + 1) % 7  # Python: Monday=0; cron: Sunday=0


def _first_of_next_month(dt: datetime) -> datetime:
    year, month = (dt.year + 1, 1) if dt.month == 12 else (dt.year, dt.month + 1)
    return dt.replace(year=year, month=month, day=1, hour=0, minute=0, second=0)
