"""The domain's exception tree. Adapters translate SDK errors into these at the boundary."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFoundError(DomainError):
    def __init__(self, what: str) -> None:
        super().__init__(f"{what} does not exist")
        self.what = what


class ConflictError(DomainError):
    """A uniqueness claim failed: `key` is already taken."""

    def __init__(self, key: str, message: str | None = None) -> None:
        super().__init__(message or f"{key} is already taken")
        self.key = key


class PreconditionFailed(DomainError):
    """An optimistic-concurrency check failed: the document changed since it was read."""

    def __init__(self, key: str, current_revision: int) -> None:
        super().__init__(f"{key} changed; its revision is now {current_revision}")
        self.key = key
        self.current_revision = current_revision


class Unavailable(DomainError):
    """A backing store cannot be reached right now; retry later."""


class Rejected(DomainError):
    """A permanent failure: the receiving service refused the request (a 5xx SMTP reply, an
    invalid phone number, ...). Retrying cannot help, so a queue handler poisons the message."""


class CallRefused(DomainError):
    """The SIP edge refused a call-control request. `status` is its HTTP status (404: it does not
    know the user yet, 422: the user has no phone to ring, 409/4xx: other refusals)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
