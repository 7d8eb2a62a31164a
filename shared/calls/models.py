"""The calls domain's wire types: live calls and click-to-call requests.

`ActiveCall` is a call in progress on a SIP edge, as the edge's call-control API and the web API
show it. Live state only: when the call ends it leaves the edge's table and its `CallRecord`
(`shared/history/models/call.py`) lands in the History DB under the same `call_id`.

`ClickToCallBody` is what a user sends the web API; `ClickToCall` is what the functions send the
edge's call-control API (`POST /v1/calls`), the same model on both sides of that hop. It carries
the limits the edge enforces for the call: its longest duration, the tenant's concurrent calls and
calls per minute.

`OutboundPolicy` is a tenant's rules for the calls the service places on its behalf (stored at
ConfigDB `t/{tid}/policy/outbound`, edited by owners and admins through
`GET/PUT /api/v1/outbound-policy`); `OutboundPolicyOut` is what the API shows of it.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from shared.values import E164, UtcDatetime

Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
"""An ISO 3166-1 alpha-2 country code, upper case ("US", "GB")."""

DEFAULT_SPEND_CAP = Decimal("50")
DEFAULT_MAX_CALL_DURATION_S = 3600
DEFAULT_MAX_CONCURRENT_CALLS = 3
DEFAULT_CALLS_PER_MINUTE = 10


class OutboundPolicyIn(BaseModel):
    """`PUT /api/v1/outbound-policy`: a tenant's rules for click-to-call, whole (a field left out
    takes its default). Stored as `OutboundPolicy`; a tenant without one has these defaults.

    Premium-rate, shared-cost and satellite destinations are always refused; they are not a
    setting (`shared.calls.services.outbound_policy`). The spend cap is in the currency of the
    carrier rate deck and counts every priced leg of the UTC month, inbound forwards included.
    """

    model_config = ConfigDict(extra="forbid")

    allowed_countries: list[Country] | None = Field(
        default=None,
        max_length=250,
        description="Countries that may be called (ISO 3166-1 alpha-2); null: the home country only.",
        examples=[["US", "CA"]],
    )
    monthly_spend_cap: Decimal = Field(
        default=DEFAULT_SPEND_CAP,
        ge=0,
        le=100_000,
        max_digits=10,
        decimal_places=4,
        description="What calls may cost in a UTC month, in the rate deck's currency; 0: no calls.",
    )
    max_call_duration_s: int = Field(
        default=DEFAULT_MAX_CALL_DURATION_S,
        ge=60,
        le=4 * 3600,
        description="The edge ends a call after this.",
    )
    max_concurrent_calls: int = Field(
        default=DEFAULT_MAX_CONCURRENT_CALLS, ge=1, le=32, description="Click-to-calls of the tenant at once."
    )
    calls_per_minute: int = Field(
        default=DEFAULT_CALLS_PER_MINUTE,
        ge=1,
        le=60,
        description="Click-to-calls started per minute.",
    )

    @field_validator("allowed_countries")
    @classmethod
    def _no_duplicates(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a country is listed twice")
        return value


class OutboundPolicy(OutboundPolicyIn):
    """The stored policy (ConfigDB `t/{tid}/policy/outbound`): the body plus who set it, when."""

    model_config = ConfigDict(extra="ignore")

    updated_at: UtcDatetime | None = None
    updated_by: str | None = Field(default=None, max_length=64)


class OutboundPolicyOut(BaseModel):
    """`GET /api/v1/outbound-policy`: the policy in force, with what it resolves to this month."""

    allowed_countries: list[str] | None = Field(description="As set; null: the home country only.")
    effective_countries: list[str] = Field(description="The countries calls may go to now.")
    home_country: str | None = Field(description="From the tenant's first number, else its locale.")
    monthly_spend_cap: Decimal
    spent_this_month: Decimal | None = Field(description="Priced legs of this UTC month; null: unknown.")
    currency: str | None = Field(description="The rate deck's currency; null when no deck is published.")
    max_call_duration_s: int
    max_concurrent_calls: int
    calls_per_minute: int
    always_blocked: list[str] = Field(description="Number kinds never called, whatever the policy says.")
    updated_at: UtcDatetime | None = None
    updated_by: str | None = None


class ClickToCallBody(BaseModel):
    """`POST /api/v1/calls`: the number to dial once the signed-in user answers their phone."""

    model_config = ConfigDict(extra="forbid")

    destination: E164
    caller_id: E164 | None = Field(
        default=None,
        description="The number the destination sees: one of the account's numbers or a verified "
        "caller ID (`/caller-ids`); default: the account's first number.",
    )


class CallLimits(BaseModel):
    """What the edge enforces for one click-to-call (None: no such limit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_duration_s: int | None = Field(
        default=None, ge=1, le=86_400, description="End the call this long after the user answers."
    )
    max_concurrent_calls: int | None = Field(
        default=None, ge=1, le=1000, description="Refuse (429) while the tenant has this many click-to-calls."
    )
    calls_per_minute: int | None = Field(
        default=None, ge=1, le=1000, description="Refuse (429) past this many click-to-calls per minute."
    )


class ClickToCall(CallLimits):
    """`POST /v1/calls` on the edge: ring `user_id`'s first forwarding number, then dial `destination`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=64)
    destination: E164
    caller_id: E164 | None = None  # presented to the destination; None: the tenant's first number


class ActiveCallList(BaseModel):
    items: list[ActiveCall]


class ActiveCall(BaseModel):
    call_id: str = Field(description="The call's id; its History record has the same id.")
    tenant_id: str
    direction: str = Field(
        description="inbound, click_to_call, or caller_id_check (a call reading out a verification code)",
        examples=["click_to_call"],
    )
    caller: str | None = Field(default=None, description="For click-to-call: the user's phone, rung first.")
    number_called: str | None = Field(default=None, description="For click-to-call: the destination.")
    user_id: str | None = None
    state: str = Field(
        description="inbound: the IVR state; click-to-call: ringing_user, dialing_destination, bridged",
        examples=["bridged"],
    )
    started_at: str = Field(description="UTC ISO-8601 with Z")
    max_duration_s: int | None = Field(
        default=None, description="For click-to-call: the call ends this long after the user answers."
    )


ActiveCallList.model_rebuild()


# --------------------------------------------------------------------------- caller IDs

CODE_PATTERN = r"^[0-9]{6}$"


class CallerIdStatus(enum.StrEnum):
    PENDING = "pending"
    VERIFIED = "verified"


class CallerId(BaseModel):
    """A number a tenant brings as caller ID (ConfigDB `t/{tid}/callerid/{id}`). It is `verified`
    once someone at that number typed the code a call to it read out. Only a digest of the code
    is kept, with its expiry and the attempts used."""

    model_config = ConfigDict(extra="ignore")

    id: str
    tenant_id: str
    number: E164
    status: CallerIdStatus = CallerIdStatus.PENDING
    code_salt: str | None = None
    code_digest: str | None = None
    code_expires_at: UtcDatetime | None = None
    attempts: int = 0
    last_call_at: UtcDatetime | None = None
    created_at: UtcDatetime
    created_by: str
    verified_at: UtcDatetime | None = None


class CallerIdCreate(BaseModel):
    """`POST /api/v1/caller-ids`: start verifying a number (a call to it reads out a code)."""

    model_config = ConfigDict(extra="forbid")

    number: E164


class CallerIdVerify(BaseModel):
    """`POST /api/v1/caller-ids/{id}/verify`: the code the call read out."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=CODE_PATTERN, examples=["480213"])


class CallerIdOut(BaseModel):
    id: str
    number: str
    status: CallerIdStatus
    code_expires_at: UtcDatetime | None = Field(description="While pending: until when the code is good.")
    attempts_left: int
    created_at: UtcDatetime
    verified_at: UtcDatetime | None


class CallerIdList(BaseModel):
    items: list[CallerIdOut]


class CodeCall(BaseModel):
    """`POST /v1/code-calls` on the edge: call `number` and read out `code` (caller-ID verification),
    presenting `caller_id` (the tenant's number) when given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(min_length=1, max_length=64)
    number: E164
    code: str = Field(pattern=CODE_PATTERN)
    caller_id: E164 | None = None
