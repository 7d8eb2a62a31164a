"""The ConfigDB client's exception tree.

Every error carries an HTTP-like `status` (None when no node answered), a stable
`error_id` (the tail of the problem `type` URI, or a client-side id) and the
`problem` body the node sent, when there was one. Transport libraries' errors
(httpx, socket, asyncio) never escape the client: they are mapped onto this tree.

```
ConfigDBError
├── ConfigDBUnavailable      no node answered within the bounded attempts
├── ProtocolError            a node sent something the protocol does not allow
├── Unauthorized             401: bad or missing token
├── InvalidRequest           400/413/422, or refused locally before sending (also a ValueError)
├── NotFound                 404 (discovery: unknown number)
│   └── KeyNotFound          404 on a key
└── CompareFailed            409: a prev_revision compare did not hold
```
"""

from __future__ import annotations

from typing import Any


class ConfigDBError(Exception):
    """Base class of every error the ConfigDB client raises."""

    default_error_id = "configdb-error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_id: str | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error_id = error_id or self.default_error_id
        self.problem = problem

    def __str__(self) -> str:
        return self.message


class ConfigDBUnavailable(ConfigDBError):
    """No endpoint gave a usable answer within the bounded attempts.

    `attempts` is how many requests were made, `last_error` describes the last failure.
    `outcome_unknown` is True for a write that may have been applied (a timeout or a
    5xx after the request was sent): retrying it with the same `request_id` is safe.
    """

    default_error_id = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        attempts: int = 0,
        last_error: str | None = None,
        outcome_unknown: bool = False,
        status: int | None = None,
    ) -> None:
        super().__init__(message, status=status)
        self.attempts = attempts
        self.last_error = last_error
        self.outcome_unknown = outcome_unknown


class ProtocolError(ConfigDBError):
    """A node sent a malformed frame or a response body that breaks the protocol."""

    default_error_id = "protocol-error"


class Unauthorized(ConfigDBError):
    """The node refused the bearer token (HTTP 401 or a stream `error` frame with 401)."""

    default_error_id = "unauthorized"


class InvalidRequest(ConfigDBError, ValueError):
    """The request is invalid (HTTP 400/413/422), or was refused locally before sending
    (bad key, value too large, bad argument). Never retried."""

    default_error_id = "invalid-request"


class NotFound(ConfigDBError):
    """HTTP 404 on something that is not a key (e.g. discovery of an unknown number)."""

    default_error_id = "not-found"


class KeyNotFound(NotFound):
    """The key does not exist (HTTP 404 on `/v1/kv/{key}`). `key` names it."""

    default_error_id = "key-not-found"

    def __init__(self, key: str, *, problem: dict[str, Any] | None = None) -> None:
        super().__init__(f"not found: {key}", status=404, problem=problem)
        self.key = key


class CompareFailed(ConfigDBError):
    """A compare-and-set did not hold (HTTP 409).

    `revision` is the key's current revision as the node reported it (0 if the key is
    absent, None if the node did not say).
    """

    default_error_id = "compare-failed"

    def __init__(
        self,
        key: str | None,
        revision: int | None,
        *,
        problem: dict[str, Any] | None = None,
    ) -> None:
        what = f" on {key}" if key is not None else ""
        super().__init__(f"compare failed{what}: current revision is {revision}", status=409, problem=problem)
        self.key = key
        self.revision = revision
