"""A tenant's monthly usage report: pure aggregation of call records, and its CSV form.

`UsageReport` counts one UTC calendar month of a tenant's calls (by `started_at`): calls per
disposition, talk minutes (each call's answered-to-ended time rounded up to whole minutes, as
the daily stats count them), voicemails, and three breakdowns: per day, per tenant number
called, and the top callers (at most `TOP_N`, most calls first).

The CSV (`render_csv`) is one table, one row per counted group, so a spreadsheet or
`csv.DictReader` reads it directly::

    section,key,calls,answered,missed,voicemails,abandoned,rejected,failed,minutes,seconds
    total,2026-05,12,8,3,1,0,0,0,25,1460
    day,2026-05-01,...
    number,+15557770199,...
    caller,+15559870001,...

`section` is `total` (key: the month), `day` (key: YYYY-MM-DD, days with calls only), `number`
(the tenant's number called) or `caller` (the caller id; "anonymous" when absent).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from shared.history.models.call import CallRecord

TOP_N = 10
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)

COUNT_COLUMNS = ("answered", "missed", "voicemails", "abandoned", "rejected", "failed")
CSV_COLUMNS = ("section", "key", "calls", *COUNT_COLUMNS, "minutes", "seconds")
_COLUMN_OF_DISPOSITION = {
    "answered": "answered",
    "missed": "missed",
    "voicemail": "voicemails",
    "abandoned": "abandoned",
    "rejected": "rejected",
    "failed": "failed",
}


def month_range(month: str) -> tuple[dt.datetime, dt.datetime]:
    """`2026-05` -> [2026-05-01T00:00Z, 2026-06-01T00:00Z)."""
    if not _MONTH.match(month):
        raise ValueError(f"month must be YYYY-MM, got {month!r}")
    year, mon = int(month[:4]), int(month[5:])
    start = dt.datetime(year, mon, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=dt.UTC)
    return start, end


def previous_month(now: dt.datetime) -> str:
    first = now.astimezone(dt.UTC).date().replace(day=1)
    last = first - dt.timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def month_of(now: dt.datetime) -> str:
    day = now.astimezone(dt.UTC).date()
    return f"{day.year:04d}-{day.month:02d}"


@dataclass
class Counts:
    calls: int = 0
    seconds: int = 0
    minutes: int = 0
    by_column: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_COLUMNS, 0))

    def add(self, call: CallRecord) -> None:
        seconds = talk_seconds(call)
        self.calls += 1
        self.seconds += seconds
        self.minutes += math.ceil(seconds / 60)
        column = _COLUMN_OF_DISPOSITION.get(str(call.disposition))
        if column is not None:
            self.by_column[column] += 1
        if column != "voicemails" and call.voicemail_blob:
            self.by_column["voicemails"] += 1

    @property
    def answered(self) -> int:
        return self.by_column["answered"]

    @property
    def missed(self) -> int:
        return self.by_column["missed"]

    @property
    def voicemails(self) -> int:
        return self.by_column["voicemails"]


def talk_seconds(call: CallRecord) -> int:
    if call.answered_at is None or call.ended_at is None or call.ended_at <= call.answered_at:
        return 0
    return math.ceil((call.ended_at - call.answered_at).total_seconds())


@dataclass
class UsageReport:
    tenant_id: str
    tenant_name: str
    month: str
    generated_at: dt.datetime
    total: Counts = field(default_factory=Counts)
    days: dict[str, Counts] = field(default_factory=dict)
    numbers: dict[str, Counts] = field(default_factory=dict)
    callers: dict[str, Counts] = field(default_factory=dict)

    def add(self, call: CallRecord) -> None:
        self.total.add(call)
        day = call.started_at.astimezone(dt.UTC).date().isoformat()
        self.days.setdefault(day, Counts()).add(call)
        self.numbers.setdefault(call.number_called or "unknown", Counts()).add(call)
        self.callers.setdefault(call.caller or "anonymous", Counts()).add(call)

    def top_callers(self, n: int = TOP_N) -> list[tuple[str, Counts]]:
        return sorted(self.callers.items(), key=lambda kv: (-kv[1].calls, -kv[1].seconds, kv[0]))[:n]

    def top_numbers(self, n: int | None = None) -> list[tuple[str, Counts]]:
        ranked = sorted(self.numbers.items(), key=lambda kv: (-kv[1].calls, -kv[1].seconds, kv[0]))
        return ranked if n is None else ranked[:n]


def build_report(
    tenant_id: str, tenant_name: str, month: str, calls: Iterable[CallRecord], generated_at: dt.datetime
) -> UsageReport:
    """Count the calls of `month` (others are ignored, so the caller may over-fetch)."""
    start, end = month_range(month)
    report = UsageReport(tenant_id, tenant_name, month, generated_at)
    for call in calls:
        if call.tenant_id == tenant_id and start <= call.started_at < end:
            report.add(call)
    return report


def _row(section: str, key: str, c: Counts) -> list[object]:
    return [section, key, c.calls, *(c.by_column[col] for col in COUNT_COLUMNS), c.minutes, c.seconds]


def render_csv(report: UsageReport) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    w.writerow(_row("total", report.month, report.total))
    for day in sorted(report.days):
        w.writerow(_row("day", day, report.days[day]))
    for number, counts in report.top_numbers():
        w.writerow(_row("number", number, counts))
    for caller, counts in report.top_callers():
        w.writerow(_row("caller", _csv_safe(caller), counts))
    return buf.getvalue().encode("utf-8")


def _csv_safe(value: str) -> str:
    """Caller ids come from outside: keep a spreadsheet from reading one as a formula."""
    formula = value[:1] in ("=", "@", "-") or (value[:1] == "+" and not value[1:].isdigit())
    return f"'{value}" if formula else value
