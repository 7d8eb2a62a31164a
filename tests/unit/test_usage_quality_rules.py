"""Usage report aggregation and CSV, and the voice quality rules (pure)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from shared.billing.services.report_pdf import render_pdf
from shared.billing.services.usage_report import build_report, month_range, previous_month, render_csv
from shared.history.models.call import CallRecord, Leg, RtpQuality
from shared.quality.services.voice_quality import call_quality, daily_series, flags, notice_activity

T0 = dt.datetime(2026, 5, 3, 10, 0, tzinfo=dt.UTC)


def call(i: int, disposition: str, *, talk: int = 0, caller: str | None = "+15550000001", **kw) -> CallRecord:
    start = T0 + dt.timedelta(days=i % 3, minutes=i)
    return CallRecord(
        call_id=f"c{i}",
        tenant_id="t1",
        number_called=kw.pop("number", "+15557770199"),
        caller=caller,
        started_at=start,
        answered_at=start if talk else None,
        ended_at=start + dt.timedelta(seconds=talk or 20),
        disposition=disposition,  # type: ignore[arg-type]
        **kw,
    )


def test_month_helpers() -> None:
    assert month_range("2026-12") == (
        dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
        dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    assert previous_month(dt.datetime(2026, 1, 15, tzinfo=dt.UTC)) == "2025-12"


def test_report_counts_and_csv_rows() -> None:
    calls = [
        call(0, "answered", talk=61),
        call(1, "answered", talk=30, caller="+15550000002"),
        call(2, "missed"),
        call(3, "voicemail", voicemail_blob="voicemail/t1/u/c3.wav", caller=None),
        call(4, "answered", talk=10, number="+15557770200"),
        CallRecord(  # another month: ignored
            call_id="old",
            tenant_id="t1",
            number_called="+15557770199",
            started_at=dt.datetime(2026, 4, 30, 23, 59, tzinfo=dt.UTC),
            disposition="answered",
        ),
    ]
    report = build_report("t1", "Acme", "2026-05", calls, T0)
    rows = list(csv.DictReader(io.StringIO(render_csv(report).decode())))
    total = rows[0]
    assert (total["section"], total["key"], total["calls"]) == ("total", "2026-05", "5")
    assert (total["answered"], total["missed"], total["voicemails"], total["minutes"]) == ("3", "1", "1", "4")
    assert total["seconds"] == str(61 + 30 + 10)
    assert [r["key"] for r in rows if r["section"] == "day"] == ["2026-05-03", "2026-05-04", "2026-05-05"]
    numbers = {r["key"]: r["calls"] for r in rows if r["section"] == "number"}
    assert numbers == {"+15557770199": "4", "+15557770200": "1"}
    callers = [(r["key"], r["calls"]) for r in rows if r["section"] == "caller"]
    assert callers[0] == ("+15550000001", "3")
    assert ("anonymous", "1") in callers
    assert render_pdf(report).startswith(b"%PDF")


def quality_call(i: int, mos: float, loss: float, number: str = "+15557770199") -> CallRecord:
    c = call(i, "answered", talk=60, number=number)
    leg = Leg(
        leg_id=f"l{i}",
        kind="caller",
        started_at=c.started_at,
        quality=RtpQuality(packets_rx=1000, loss_pct=loss, mos=mos),
    )
    return c.model_copy(update={"legs": [leg]})


def test_quality_flags_need_ten_calls() -> None:
    bad = [call_quality(quality_call(i, 2.8, 6.0)) for i in range(9)]
    assert flags("t1", [q for q in bad if q]) == []
    bad.append(call_quality(quality_call(9, 2.8, 6.0)))
    found = flags("t1", [q for q in bad if q])
    assert [(f.subject, f.key) for f in found] == [("tenant", "t1"), ("number", "+15557770199")]
    assert any("MOS" in r for r in found[1].reasons) and any("loss" in r for r in found[1].reasons)


def test_good_calls_dilute_a_tenant_but_not_the_bad_number() -> None:
    items = [call_quality(quality_call(i, 2.5, 8.0, "+15550009999")) for i in range(10)]
    items += [call_quality(quality_call(100 + i, 4.4, 0.0)) for i in range(40)]
    found = flags("t1", [q for q in items if q])
    assert [(f.subject, f.key) for f in found] == [("number", "+15550009999")]


def test_series_and_notice() -> None:
    items = [q for q in (call_quality(quality_call(i, 3.0, 4.0)) for i in range(12)) if q]
    doc = daily_series("t1", T0.date(), items, T0)
    assert doc is not None and doc["calls"] == 4 and doc["mean_mos"] == 3.0
    assert daily_series("t1", dt.date(2026, 1, 1), items, T0) is None
    act = notice_activity("t1", "u1", T0.date(), flags("t1", items), T0)
    assert act.id == "quality:t1:2026-05-03:u1" and act.kind == "account_notice"
    assert call_quality(call(1, "answered")) is None
