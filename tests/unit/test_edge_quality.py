"""Estimated MOS (E-model for G.711) and call dispositions."""

from __future__ import annotations

import datetime as dt

from shared.history.models.call import Leg
from sip_edge.quality import disposition_of, estimate_mos, mos_from_r, quality_of, r_factor

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def test_reference_points() -> None:
    assert 4.35 <= estimate_mos(0, 0) <= 4.45  # clean G.711 tops out around 4.4
    assert 3.8 <= estimate_mos(5, 0) <= 4.0
    assert 2.4 <= estimate_mos(20, 0) <= 2.8
    assert estimate_mos(100, 0) < 1.3
    assert estimate_mos(0, 0, latency_ms=400) < estimate_mos(0, 0, latency_ms=100) < estimate_mos(0, 0)


def test_monotonic_in_loss_and_jitter() -> None:
    by_loss = [estimate_mos(p, 5) for p in range(0, 60, 5)]
    assert by_loss == sorted(by_loss, reverse=True)
    by_jitter = [estimate_mos(1, j) for j in range(0, 300, 20)]
    assert by_jitter == sorted(by_jitter, reverse=True)


def test_bounds_and_garbage() -> None:
    assert mos_from_r(-5) == 1.0 and mos_from_r(120) == 4.5
    for args in ((float("nan"), 0.0), (-3, -3), (1e9, 1e9), (0, float("inf"))):
        assert 1.0 <= estimate_mos(*args) <= 4.5
    assert r_factor(0, 0) > 90


def test_quality_of_counters() -> None:
    q = quality_of(packets_rx=950, packets_tx=1000, expected_rx=1000, jitter_ms=3.2)
    assert q.lost == 50 and q.loss_pct == 5.0 and q.mos is not None and 3.8 < q.mos < 4.0
    empty = quality_of(0, 0, 0, 0)
    assert empty.mos is None and empty.loss_pct == 0.0
    assert quality_of(10, 10, 5, 0).lost == 0  # duplicates never make loss negative


def _leg(kind: str = "forward", outcome: str | None = None, answered: bool = False) -> Leg:
    return Leg(
        leg_id=f"{kind}-{outcome}",
        kind=kind,  # type: ignore[arg-type]
        started_at=T0,
        answered_at=T0 if answered else None,
        outcome=outcome,  # type: ignore[arg-type]
    )


def test_dispositions() -> None:
    caller = _leg("caller", "answered", True)
    assert disposition_of(rejected=True) == "rejected"
    assert disposition_of(legs=[caller, _leg(outcome="no_answer")], voicemail_blob="vm.wav") == "voicemail"
    assert disposition_of(
        legs=[caller, _leg(outcome="no_answer"), _leg(outcome="answered", answered=True)]
    ) == ("answered")
    assert disposition_of(legs=[caller, _leg(outcome="busy"), _leg(outcome="failed")]) == "missed"
    assert disposition_of(legs=[caller, _leg(outcome="failed")]) == "failed"
    assert disposition_of(legs=[caller], failed=True) == "failed"
    assert disposition_of(legs=[caller], hangup_reason="caller_hangup") == "abandoned"
    assert disposition_of(legs=[caller], hangup_reason="no_input") == "abandoned"
    assert disposition_of(legs=[caller], hangup_reason="hang_up") == "answered"
    assert disposition_of(legs=[caller], hangup_reason="caller_hangup", for_user=True) == "missed"
