"""Call quality and outcome, as pure functions: an estimated MOS from RTP statistics (a simplified
ITU-T G.107 E-model for G.711) and the disposition of a finished call."""

from __future__ import annotations

import math
from collections.abc import Sequence

from shared.history.models.call import Disposition, Leg, RtpQuality

# G.107 defaults (all other impairments at their default values give R0 - Is = 93.2).
_R_DEFAULT = 93.2
_CODEC_DELAY_MS = 10.0  # G.711 20 ms packetisation, look-ahead 0: ~one frame of algorithmic delay
_IE_G711 = 0.0  # equipment impairment of G.711
_BPL_G711 = 25.1  # packet-loss robustness of G.711 with PLC (G.113 Appendix I)

# Hang-up reasons of an IVR that ended the call on purpose (a served call, not an abandoned one).
SERVED_REASONS: frozenset[str] = frozenset({"hang_up"})


def r_factor(loss_pct: float, jitter_ms: float, latency_ms: float = 20.0, burst_ratio: float = 1.0) -> float:
    """The E-model transmission rating R for G.711.

    One-way delay is `latency_ms` + twice the jitter (what a jitter buffer adds) + the codec
    delay. Delay impairment Id = 0.024 d + 0.11 (d - 177.3) for d > 177.3 ms (the usual
    simplification of G.107's Idd). Loss impairment Ie,eff = Ie + (95 - Ie) Ppl / (Ppl/BurstR + Bpl).
    """
    loss = min(max(_finite(loss_pct), 0.0), 100.0)
    jitter = max(_finite(jitter_ms), 0.0)
    latency = max(_finite(latency_ms), 0.0)
    burst = max(_finite(burst_ratio), 1.0)
    d = latency + 2.0 * jitter + _CODEC_DELAY_MS
    idelay = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    ie_eff = _IE_G711 + (95.0 - _IE_G711) * loss / (loss / burst + _BPL_G711)
    return _R_DEFAULT - idelay - ie_eff


def mos_from_r(r: float) -> float:
    """G.107 Annex B: R to the estimated MOS (1.0 .. 4.5)."""
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + 7e-6 * r * (r - 60.0) * (100.0 - r)


def estimate_mos(loss_pct: float, jitter_ms: float, latency_ms: float = 20.0) -> float:
    """Estimated MOS (1.0-4.5, two decimals) of a G.711 stream with `loss_pct` percent random
    packet loss, `jitter_ms` interarrival jitter and `latency_ms` one-way network latency.
    A clean loopback call scores about 4.4; 5 % loss about 3.9; 20 % loss about 2.6."""
    return round(max(1.0, min(4.5, mos_from_r(r_factor(loss_pct, jitter_ms, latency_ms)))), 2)


def quality_of(
    packets_rx: int, packets_tx: int, expected_rx: int, jitter_ms: float, latency_ms: float = 20.0
) -> RtpQuality:
    """An `RtpQuality` from raw counters: `expected_rx` is the number of packets the sender sent
    (from sequence numbers: highest - first + 1); loss is what did not arrive."""
    expected = max(expected_rx, packets_rx, 0)
    lost = max(expected - max(packets_rx, 0), 0)
    loss_pct = 100.0 * lost / expected if expected else 0.0
    jitter = max(_finite(jitter_ms), 0.0)
    return RtpQuality(
        packets_rx=max(packets_rx, 0),
        packets_tx=max(packets_tx, 0),
        lost=lost,
        loss_pct=round(loss_pct, 3),
        jitter_ms=round(jitter, 3),
        mos=estimate_mos(loss_pct, jitter, latency_ms) if expected else None,
    )


def disposition_of(
    *,
    legs: Sequence[Leg] = (),
    rejected: bool = False,
    failed: bool = False,
    voicemail_blob: str | None = None,
    hangup_reason: str | None = None,
    for_user: bool = False,
) -> Disposition:
    """How a finished call is filed, in this order:

    - `rejected`: routing refused it (unknown number, suspended tenant, no entry point);
    - `voicemail`: a voicemail was kept;
    - `answered`: a forward or click-to-call leg answered;
    - `failed`: the edge failed (`failed=True`), or every leg it placed failed technically;
    - `missed`: legs were placed and nobody answered (no answer, busy, declined, cancelled), or
      the call reached a user's voicemail (`for_user=True`) and no message was left;
    - `answered`: no leg was placed and the IVR ended the call on purpose (a `hang_up` action);
    - `abandoned`: otherwise: the caller hung up in the IVR, or it gave up (no input, loops).
    """
    if rejected:
        return "rejected"
    if voicemail_blob:
        return "voicemail"
    placed = [leg for leg in legs if leg.kind != "caller"]
    if any(leg.outcome == "answered" or leg.answered_at is not None for leg in placed):
        return "answered"
    if failed or (placed and all(leg.outcome == "failed" for leg in placed)):
        return "failed"
    if placed or for_user:
        return "missed"
    if hangup_reason in SERVED_REASONS:
        return "answered"
    return "abandoned"


def _finite(value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) else 0.0


__all__ = ["SERVED_REASONS", "disposition_of", "estimate_mos", "mos_from_r", "quality_of", "r_factor"]
