"""Errors of the calls domain: what click-to-call and live-call control can answer.

Each refusal of a call has its own stable `error_id` (the problem `type`): the tenant's state
(`tenant-suspended`, `trial-expired`), the destination (`destination-country-not-allowed`,
`destination-premium-rate`, `destination-satellite`, `destination-not-priced`,
`destination-not-dialable`), money (`spend-cap-reached`, `rates-unavailable`) and pace
(`too-many-concurrent-calls`, `call-rate-exceeded`, `edge-share-exhausted`).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from shared.errors import ConflictError, DomainError, InvalidField, NotFoundError, Unavailable, field_error

LegName = Literal["destination", "forwarding_number"]


class CallRefused(DomainError):
    """The SIP edge refused a call-control request; `status` is its HTTP status (404: it does not
    know the user yet, 422: the user has no phone to ring, 403/429: a limit, named by `reason`,
    the edge's `reason` member: `tenant-suspended`, `trial-expired`, `too-many-concurrent-calls`,
    `call-rate-exceeded`, `edge-share-exhausted`).

    The click-to-call service turns it into the matching error below, or `CallServiceUnavailable`."""

    error_id = "call-refused"
    title = "Call refused"

    def __init__(
        self, status: int, detail: str, *, reason: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status  # type: ignore[misc]  # per instance: the edge's answer
        self.reason = reason
        self.retry_after = retry_after


class CallServiceUnavailable(Unavailable):
    """503: the SIP edge cannot be reached, or cannot place this call right now."""

    PUBLIC_DETAIL = "the call service is unreachable; retry shortly"


class NoPhoneToRing(DomainError):
    """409: click-to-call rings the caller's own phone first, and they have none."""

    status = 409
    error_id = "no-forwarding-number"
    title = "No phone to ring"

    def __init__(self) -> None:
        super().__init__(
            "add a forwarding number to your profile first: click-to-call rings it, then the destination"
        )


class LiveCallNotFound(NotFoundError):
    """404: no live call with that id in the caller's tenant (or not theirs, for a member)."""

    def __init__(self, call_id: str) -> None:
        super().__init__("live call", f"no live call {call_id!r}")


class TenantSuspended(DomainError):
    """403: a suspended or cancelled tenant places no calls."""

    status = 403
    error_id = "tenant-suspended"
    title = "Tenant suspended"

    def __init__(self) -> None:
        super().__init__("this account is suspended: calls cannot be placed until it is reactivated")


class TrialExpired(DomainError):
    """403: a trial that has ended places no calls."""

    status = 403
    error_id = "trial-expired"
    title = "Trial ended"

    def __init__(self) -> None:
        super().__init__("the trial has ended: add a billing account to place calls")


class DestinationRefused(DomainError):
    """403 (422 for a number that cannot be dialled): the outbound policy refuses a number the
    call would ring, the destination or the caller's own forwarding number (`details.leg`)."""

    status = 403
    title = "Destination not allowed"
    WHAT: ClassVar[str] = "is not allowed"

    def __init__(self, number: str, leg: LegName, **details: Any) -> None:
        whose = "the destination" if leg == "destination" else "your forwarding number"
        super().__init__(f"{whose} {number} {self.WHAT}", details={"number": number, "leg": leg, **details})
        self.number, self.leg = number, leg


class CountryNotAllowed(DestinationRefused):
    error_id = "destination-country-not-allowed"
    WHAT = "is in a country your outbound policy does not allow"

    def __init__(self, number: str, leg: LegName, country: str | None, allowed: list[str]) -> None:
        super().__init__(number, leg, country=country, allowed_countries=allowed)


class PremiumRateRefused(DestinationRefused):
    error_id = "destination-premium-rate"
    WHAT = "is a premium-rate or shared-cost number, which are never called"


class SatelliteRefused(DestinationRefused):
    error_id = "destination-satellite"
    WHAT = "is a satellite or international-network number, which are never called"


class NotPriced(DestinationRefused):
    error_id = "destination-not-priced"
    WHAT = "has no rate in the carrier's rate table, so its cost cannot be capped"


class NotDialable(DestinationRefused):
    status = 422
    error_id = "destination-not-dialable"
    WHAT = "is not a number that can be dialled"


class ForwardingNumberRefused(InvalidField):
    """422 at `/forwarding_numbers/{i}`: a user's phone is a leg the service places and pays for
    (forwards, click-to-call), so it is never premium-rate, shared-cost, satellite or undialable."""

    error_id = "forwarding-number-not-allowed"  # type: ignore[assignment]
    title = "Forwarding number not allowed"  # type: ignore[assignment]


class SpendCapReached(DomainError):
    """403: the tenant's calls this month have cost its monthly spend cap (or all but a few
    seconds of it)."""

    status = 403
    error_id = "spend-cap-reached"
    title = "Monthly spend cap reached"

    def __init__(self, cap: str, spent: str, currency: str) -> None:
        super().__init__(
            f"this month's calls have cost {spent} {currency} of the {cap} {currency} cap:"
            " an admin can raise it in the outbound policy",
            details={"monthly_spend_cap": cap, "spent_this_month": spent, "currency": currency},
        )


class RatesUnavailable(Unavailable):
    """503: no carrier rate table is published yet, so no call can be priced and capped."""

    error_id = "rates-unavailable"
    PUBLIC_DETAIL = "call prices are not loaded yet; retry in a few minutes"


class CallLimited(DomainError):
    """429: a pace limit of the tenant; `Retry-After` says when to try again."""

    status = 429
    title = "Too many calls"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class TooManyConcurrentCalls(CallLimited):
    error_id = "too-many-concurrent-calls"


class CallRateExceeded(CallLimited):
    error_id = "call-rate-exceeded"


class EdgeShareExhausted(CallLimited):
    error_id = "edge-share-exhausted"


class CallerIdNotAllowed(InvalidField):
    """422: a click-to-call may show only the account's own numbers or its verified caller IDs."""

    error_id = "caller-id-not-verified"  # type: ignore[assignment]
    title = "Caller ID not verified"  # type: ignore[assignment]

    def __init__(self, number: str) -> None:
        super().__init__(
            "/caller_id",
            f"{number} is neither one of your numbers nor a verified caller ID (see /caller-ids)",
        )


class CallerIdExists(ConflictError):
    """409: the number is already a verified caller ID, or one of the account's own numbers."""

    error_id = "caller-id-exists"
    title = "Caller ID exists"

    def __init__(self, number: str, why: str) -> None:
        super().__init__(f"callerid/{number}", f"{number} {why}", pointer="/number")


class VerificationCodeWrong(DomainError):
    """422: not the code the call read out; `attempts_left` more tries before starting again."""

    status = 422
    error_id = "verification-code-wrong"
    title = "Wrong verification code"

    def __init__(self, attempts_left: int) -> None:
        super().__init__(
            f"that is not the code; {attempts_left} attempt{'s' if attempts_left != 1 else ''} left",
            details={"attempts_left": attempts_left, "errors": [field_error("/code", "wrong code", "wrong")]},
        )


class VerificationCodeExpired(DomainError):
    """409: the code expired or its attempts are used up; start again (`POST /caller-ids`)."""

    status = 409
    error_id = "verification-code-expired"
    title = "Verification code expired"
