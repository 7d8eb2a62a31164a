"""The error contract: every error the domain raises on purpose is a `DomainError`.

A `DomainError` carries what a client needs, the way wazo's `APIException` does:
- `status`: the HTTP status it stands for;
- `error_id`: a stable id, the problem `type` (`https://errors.cloudpbx.example/{error_id}`);
- `title`: a short, fixed summary of the kind of error;
- `detail`: the sentence for this occurrence (also `str(error)`);
- `details`: extra members of the problem document (`errors`, `field`, `limit`, ...);
- `headers`: response headers that belong to the error (`Retry-After`, `ETag`, ...).

Subclasses fix `status`, `error_id` and `title` as class attributes and build `details` in
their constructor. The API maps every `DomainError` to problem+json in one place
(`functions/http_api/problems.py`); queue handlers use `Rejected` and `Unavailable` to decide
between poisoning and retrying. Adapters translate SDK errors into these at the boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from shared.configdb_keys import field_of_claim


class DomainError(Exception):
    """Base of every error the domain raises on purpose (400 unless a subclass says otherwise)."""

    status: ClassVar[int] = 400
    error_id: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})


def field_error(pointer: str, message: str, code: str = "invalid") -> dict[str, str]:
    """One entry of a problem's `errors` list: where (a JSON pointer), what, and a stable code."""
    return {"pointer": pointer, "message": message, "code": code}


class InvalidField(DomainError):
    """422 (or 400 for a bad link token): a semantically wrong input field, with its JSON pointer."""

    error_id = "validation"
    title = "Invalid request"

    def __init__(self, pointer: str, message: str, status: int = 422) -> None:
        super().__init__(message, details={"errors": [field_error(pointer, message)]})
        self.pointer, self.message = pointer, message
        self.status = status  # type: ignore[misc]  # per instance: 400 or 422


class AuthFailed(DomainError):
    """401: missing, wrong or expired credentials (with the bearer challenge)."""

    status = 401
    error_id = "unauthorized"
    title = "Unauthorized"
    CHALLENGE: ClassVar[dict[str, str]] = {"WWW-Authenticate": 'Bearer realm="api"'}

    def __init__(self, detail: str, *, error_id: str | None = None, headers: Mapping[str, str] | None = None):
        super().__init__(detail, headers=self.CHALLENGE if headers is None else headers)
        if error_id is not None:
            self.error_id = error_id  # type: ignore[misc]


class Forbidden(DomainError):
    """403: authenticated, but not allowed to do this."""

    status = 403
    error_id = "forbidden"
    title = "Forbidden"


class NotFoundError(DomainError):
    """404: the thing does not exist, or belongs to another tenant (which is never said)."""

    status = 404
    error_id = "not-found"
    title = "Not found"

    def __init__(self, what: str, detail: str | None = None) -> None:
        super().__init__(detail or f"{what} not found")
        self.what = what


class ConflictError(DomainError):
    """409: a uniqueness claim failed: `key` is already taken; `field` names the request field."""

    status = 409
    error_id = "conflict"
    title = "Conflict"

    def __init__(self, key: str, message: str | None = None, *, pointer: str | None = None) -> None:
        detail = message or f"{key} is already taken"
        pointer = pointer or f"/{field_of_claim(key)}"
        field = pointer.rsplit("/", 1)[-1]
        super().__init__(detail, details={"field": field, "errors": [field_error(pointer, detail, "taken")]})
        self.key, self.field, self.pointer = key, field, pointer


class PreconditionFailed(DomainError):
    """412: an optimistic-concurrency check failed: the document changed since it was read."""

    status = 412
    error_id = "precondition-failed"
    title = "Precondition failed"

    def __init__(self, key: str, current_revision: int) -> None:
        super().__init__(
            "the resource changed since you read it; fetch it again and retry",
            headers={"ETag": f'"{current_revision}"'},
        )
        self.key = key
        self.current_revision = current_revision


class Throttled(DomainError):
    """429: too many attempts; `retry_after` is whole seconds."""

    status = 429
    error_id = "throttled"
    title = "Too many requests"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        detail = detail or f"too many login attempts; retry in {retry_after} s"
        super().__init__(detail, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class Unavailable(DomainError):
    """503: a backing service cannot be reached right now; retry later."""

    status = 503
    error_id = "unavailable"
    title = "Service unavailable"
    PUBLIC_DETAIL: ClassVar[str] = "a backing store is unreachable; retry shortly"

    def __init__(self, reason: str = "", *, detail: str | None = None) -> None:
        super().__init__(detail or self.PUBLIC_DETAIL, headers={"Retry-After": "1"})
        self.reason = reason or self.detail

    def __str__(self) -> str:
        return self.reason


class Rejected(DomainError):
    """A permanent failure: the receiving service refused the request (a 5xx SMTP reply, an
    invalid phone number, ...). Retrying cannot help, so a queue handler poisons the message."""

    status = 502
    error_id = "rejected"
    title = "Refused by a downstream service"
