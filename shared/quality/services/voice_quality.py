"""Voice quality rules (pure): per-call quality from the legs' RTP statistics, the thresholds that
flag a tenant or one of its numbers, the daily quality series document and the notice activity.

- A call's quality is its worst measured leg: the lowest `quality.mos` and the highest
  `quality.loss_pct` among legs that carry `quality` (calls without any are not counted).
- A subject (the whole tenant, or one number called) is flagged when at least `MIN_CALLS`
  measured calls in the window average an estimated MOS below `BAD_MOS`, or average a loss
  above `BAD_LOSS_PCT` percent.
- The notice is one `account_notice` activity per recipient (owner and admins), tenant and
  UTC day: id `quality:{tenant}:{YYYY-MM-DD}:{user}`, so reruns add nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from shared.history.models.call import ActivityItem, CallRecord

BAD_MOS = 3.5
BAD_LOSS_PCT = 3.0
MIN_CALLS = 10
WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class CallQuality:
    call_id: str
    number: str
    started_at: dt.datetime
    mos: float | None
    loss_pct: float | None

    @property
    def bad(self) -> bool:
        return (self.mos is not None and self.mos < BAD_MOS) or (
            self.loss_pct is not None and self.loss_pct > BAD_LOSS_PCT
        )


def call_quality(call: CallRecord) -> CallQuality | None:
    measured = [leg.quality for leg in call.legs if leg.quality is not None]
    if not measured:
        return None
    moses = [q.mos for q in measured if q.mos is not None]
    return CallQuality(
        call_id=call.call_id,
        number=call.number_called or "unknown",
        started_at=call.started_at,
        mos=min(moses) if moses else None,
        loss_pct=max(q.loss_pct for q in measured),
    )


@dataclass(frozen=True)
class QualityStats:
    calls: int
    mos_calls: int
    mean_mos: float | None
    min_mos: float | None
    mean_loss_pct: float | None
    max_loss_pct: float | None
    bad_calls: int

    def as_doc(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "mos_calls": self.mos_calls,
            "mean_mos": self.mean_mos,
            "min_mos": self.min_mos,
            "mean_loss_pct": self.mean_loss_pct,
            "max_loss_pct": self.max_loss_pct,
            "bad_calls": self.bad_calls,
        }


def summarize(items: Iterable[CallQuality]) -> QualityStats:
    items = list(items)
    moses = [q.mos for q in items if q.mos is not None]
    losses = [q.loss_pct for q in items if q.loss_pct is not None]
    return QualityStats(
        calls=len(items),
        mos_calls=len(moses),
        mean_mos=round(sum(moses) / len(moses), 3) if moses else None,
        min_mos=min(moses) if moses else None,
        mean_loss_pct=round(sum(losses) / len(losses), 3) if losses else None,
        max_loss_pct=max(losses) if losses else None,
        bad_calls=sum(1 for q in items if q.bad),
    )


def reasons(stats: QualityStats) -> list[str]:
    """Why a subject is flagged (empty: not flagged)."""
    out = []
    if stats.mos_calls >= MIN_CALLS and stats.mean_mos is not None and stats.mean_mos < BAD_MOS:
        out.append(f"estimated MOS {stats.mean_mos:.2f} < {BAD_MOS} over {stats.mos_calls} calls")
    if stats.calls >= MIN_CALLS and stats.mean_loss_pct is not None and stats.mean_loss_pct > BAD_LOSS_PCT:
        out.append(f"packet loss {stats.mean_loss_pct:.2f}% > {BAD_LOSS_PCT}% over {stats.calls} calls")
    return out


@dataclass(frozen=True)
class Flag:
    subject: Literal["tenant", "number"]
    key: str  # the tenant id, or the number
    stats: QualityStats
    reasons: list[str] = field(default_factory=list)

    def as_doc(self) -> dict[str, Any]:
        return {"subject": self.subject, "key": self.key, "reasons": self.reasons, **self.stats.as_doc()}


def by_number(items: Iterable[CallQuality]) -> dict[str, list[CallQuality]]:
    groups: dict[str, list[CallQuality]] = {}
    for q in items:
        groups.setdefault(q.number, []).append(q)
    return groups


def flags(tenant_id: str, items: Iterable[CallQuality]) -> list[Flag]:
    """The tenant as a whole, then each number, flagged by the thresholds."""
    items = list(items)
    out = []
    whole = summarize(items)
    if why := reasons(whole):
        out.append(Flag("tenant", tenant_id, whole, why))
    for number, group in sorted(by_number(items).items()):
        stats = summarize(group)
        if why := reasons(stats):
            out.append(Flag("number", number, stats, why))
    return out


def daily_series(
    tenant_id: str, day: dt.date, items: Iterable[CallQuality], now: dt.datetime
) -> dict[str, Any] | None:
    """The quality document of one tenant and UTC day (None when no measured call that day)."""
    todays = [q for q in items if q.started_at.astimezone(dt.UTC).date() == day]
    if not todays:
        return None
    return {
        "tenant_id": tenant_id,
        "day": day.isoformat(),
        **summarize(todays).as_doc(),
        "numbers": {n: summarize(g).as_doc() for n, g in sorted(by_number(todays).items())},
        "updated_at": now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    }


def notice_id(tenant_id: str, day: dt.date, user_id: str) -> str:
    return f"quality:{tenant_id}:{day.isoformat()}:{user_id}"


def notice_activity(
    tenant_id: str, user_id: str, day: dt.date, found: list[Flag], now: dt.datetime
) -> ActivityItem:
    numbers = [f.key for f in found if f.subject == "number"]
    where = ", ".join(numbers) if numbers else "your calls"
    return ActivityItem(
        id=notice_id(tenant_id, day, user_id),
        tenant_id=tenant_id,
        user_id=user_id,
        kind="account_notice",
        title=f"Poor call quality on {where}"[:300],
        created_at=now,
        data={
            "notice": "voice_quality",
            "day": day.isoformat(),
            "window_hours": WINDOW.total_seconds() / 3600,
            "thresholds": {"mos_below": BAD_MOS, "loss_pct_above": BAD_LOSS_PCT, "min_calls": MIN_CALLS},
            "flags": [f.as_doc() for f in found],
        },
    )
