"""Call records and activity items: what the SIP edge writes to the History DB.

`CallRecord` is one document per call (`call_id` unique within a tenant). It holds the path the
caller took through the IVR, every leg the edge placed or received with its outcome and RTP
quality, the times, and the disposition (see `sip_edge.quality.disposition_of` for how it is
derived). `ActivityItem` is one entry of a user's activity feed (a missed call, a voicemail, ...).

Both are stored documents: unknown fields are ignored so older readers survive newer writers.
Times are aware UTC datetimes, serialised as ISO-8601 with a `Z`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.values import StoredModel, UtcDatetime

Direction = Literal["inbound", "outbound", "click_to_call"]
LegKind = Literal["caller", "forward", "click_to_call"]
LegOutcome = Literal["answered", "no_answer", "busy", "declined", "failed", "cancelled"]
Disposition = Literal["answered", "missed", "voicemail", "abandoned", "rejected", "failed"]
ActivityKind = Literal["missed_call", "voicemail", "sms", "report", "account_notice"]

DISPOSITIONS: tuple[str, ...] = ("answered", "missed", "voicemail", "abandoned", "rejected", "failed")
LEG_OUTCOMES: tuple[str, ...] = ("answered", "no_answer", "busy", "declined", "failed", "cancelled")


class PathStep(BaseModel):
    """One step of the caller's way through the IVR.

    `menu_id` is the menu the input was given in (None for a step outside any menu, such as the
    entry point or a dial-by-extension lookup). `input` is the digit pressed, or "timeout",
    "invalid", "entry", "extension:<digits>", "no_answer", ... `action` is what the edge did
    (an IVR action type such as "go_menu", "transfer_user", "repeat", or "hang_up", "voicemail",
    "loop_limit"). `target` names the menu, user or number the action led to, when there is one.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    menu_id: str | None = None
    input: str | None = None
    action: str
    target: str | None = None


class RtpQuality(BaseModel):
    """RTP statistics of one leg as seen by the edge, with an estimated MOS (1.0-4.5)."""

    model_config = ConfigDict(extra="ignore")

    packets_rx: int = Field(default=0, ge=0)
    packets_tx: int = Field(default=0, ge=0)
    lost: int = Field(default=0, ge=0)
    loss_pct: float = Field(default=0.0, ge=0.0, le=100.0)
    jitter_ms: float = Field(default=0.0, ge=0.0)
    mos: float | None = Field(default=None, ge=1.0, le=5.0)


class LegPrice(BaseModel):
    """What a forwarded leg costs by the carrier rate deck (`shared.billing.services.rates.price_leg`):
    the rate per minute matched by longest prefix, its currency, and the cost of the leg's talk time."""

    model_config = ConfigDict(extra="ignore")

    rate_per_min: Decimal = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    cost: Decimal = Field(ge=0)


class Leg(BaseModel):
    """One SIP dialog of a call: the caller's own leg, a forward to a user's phone, or the first
    leg of a click-to-call. `sip_status` is the final response (200, 486, 408, ...) when known."""

    model_config = ConfigDict(extra="ignore")

    leg_id: str = Field(min_length=1, max_length=200)
    kind: LegKind
    destination: str | None = Field(default=None, max_length=200)
    started_at: UtcDatetime
    answered_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    outcome: LegOutcome | None = None
    sip_status: int | None = Field(default=None, ge=100, le=699)
    quality: RtpQuality | None = None
    price: LegPrice | None = None


class CallRecord(StoredModel):
    """One call, as written to the History DB when it ends.

    `number_called` is the tenant's E.164 number (for click-to-call: the destination);
    `caller` is the caller id as received (not necessarily E.164: "anonymous" happens).
    `user_id` is who the call was for, when it reached a user (transfer, voicemail, extension).
    """

    call_id: str = Field(min_length=1, max_length=200)
    tenant_id: str = Field(min_length=1, max_length=64)
    number_called: str = Field(max_length=64)
    caller: str | None = Field(default=None, max_length=200)
    direction: Direction = "inbound"
    path: list[PathStep] = Field(default_factory=list)
    legs: list[Leg] = Field(default_factory=list)
    started_at: UtcDatetime
    answered_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    disposition: Disposition
    user_id: str | None = None
    voicemail_blob: str | None = None
    recording_blob: str | None = None
    hangup_reason: str | None = Field(default=None, max_length=200)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end, when ended."""
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()


class ActivityItem(StoredModel):
    """One entry of a user's activity feed. `data` carries kind-specific details (for a voicemail:
    the blob name and duration; for a missed call: the caller). `call_id` links to the call record."""

    id: str = Field(min_length=1, max_length=200)
    tenant_id: str = Field(min_length=1, max_length=64)
    user_id: str | None = None
    kind: ActivityKind
    call_id: str | None = None
    title: str = Field(default="", max_length=300)
    created_at: UtcDatetime
    read: bool = False
    archived: bool = False
    data: dict[str, Any] = Field(default_factory=dict)


__all__ = [
    "DISPOSITIONS",
    "LEG_OUTCOMES",
    "ActivityItem",
    "ActivityKind",
    "CallRecord",
    "Direction",
    "Disposition",
    "Leg",
    "LegKind",
    "LegOutcome",
    "LegPrice",
    "PathStep",
    "RtpQuality",
]
