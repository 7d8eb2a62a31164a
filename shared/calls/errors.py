"""Errors of the calls domain: what click-to-call and live-call control can answer."""

from __future__ import annotations

from shared.errors import DomainError, NotFoundError, Unavailable


class CallRefused(DomainError):
    """The SIP edge refused a call-control request; `status` is its HTTP status (404: it does not
    know the user yet, 422: the user has no phone to ring, 409/4xx: other refusals).

    The click-to-call service turns it into `NoPhoneToRing` or `CallServiceUnavailable`."""

    error_id = "call-refused"
    title = "Call refused"

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status  # type: ignore[misc]  # per instance: the edge's answer


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
