"""Pure rules every queue handler follows: what one run did, when to give up, what to record.

- A run's outcome is a `Tally` of items done, skipped (a counted, expected outcome such as a
  deleted tenant or a dead push token) and failed, with a reason per count (`notes`).
- How a message is settled, on either transport (`settle`): `Complete` when the handler
  returned; `DeadLetter(reason, description)` for a permanent failure (a `Rejected` error: the
  reason is its `error_id`, e.g. "schema-violation", else "rejected") or any failure of the
  `MAX_DELIVERIES`-th (5th) attempt ("max-deliveries"); else `Retry(after=backoff(attempt))`:
  10 s, 30 s, 60 s, then 120 s before attempts 2 to 5, so that a 4-minute outage (an SMTP
  server restarting) is ridden out, not dead-lettered.
- `poison_note(...)` is the body put on `<queue>-poison` (the local dead-letter queue): the
  original text, the reason code and the description.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from shared.errors import Rejected
from shared.notifications.models import PoisonNote

MAX_DELIVERIES = 5
MAX_POISON_BODY_CHARS = 30_000  # the note must fit in one queue message (64 KB, base64)
MAX_REASON_CHARS = 500

Decision = Literal["retry", "poison"]

BACKOFF_S: tuple[float, ...] = (10.0, 30.0, 60.0, 120.0)
"""Seconds before attempt n + 1 after attempt n failed (the last value repeats)."""

# Dead-letter reasons: short stable codes (Service Bus's DeadLetterReason, PoisonNote's
# dead_letter_reason); the human text goes in the description.
SCHEMA_VIOLATION = "schema-violation"
REJECTED = "rejected"
MAX_DELIVERIES_REASON = "max-deliveries"
UNDECODABLE = "undecodable"
MAX_DESCRIPTION_CHARS = 1000


@dataclass(frozen=True)
class Complete:
    """Done (or nothing left to do): remove the message."""


@dataclass(frozen=True)
class Retry:
    """Try again after `after` seconds; `attempt` is the attempt that failed."""

    after: float
    attempt: int


@dataclass(frozen=True)
class DeadLetter:
    """Give up: move the message to the dead-letter queue with a reason code and a description."""

    reason: str
    description: str


Outcome = Complete | Retry | DeadLetter


def backoff(attempt: int) -> float:
    """The wait before retrying a message whose `attempt`-th (1-based) attempt failed."""
    return BACKOFF_S[max(1, min(attempt, len(BACKOFF_S))) - 1]


def dead_letter_reason(exc: BaseException) -> str:
    """A `Rejected` error's `error_id` when it names one ("schema-violation"), else "rejected"."""
    code = getattr(exc, "error_id", None)
    return code if isinstance(code, str) and code and code != "rejected" else REJECTED


def settle(exc: BaseException | None, attempt: int, max_attempts: int = MAX_DELIVERIES) -> Outcome:
    """The outcome of the `attempt`-th (1-based) attempt at a message, which raised `exc` (or not)."""
    if exc is None:
        return Complete()
    if isinstance(exc, Rejected):
        return DeadLetter(dead_letter_reason(exc), reason_of(exc))
    if attempt >= max_attempts:
        return DeadLetter(MAX_DELIVERIES_REASON, reason_of(exc))
    return Retry(after=backoff(attempt), attempt=attempt)


@dataclass
class Tally:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    notes: Counter[str] = field(default_factory=Counter)

    def ok(self, note: str | None = None, n: int = 1) -> Tally:
        self.done += n
        if note:
            self.notes[note] += n
        return self

    def skip(self, note: str, n: int = 1) -> Tally:
        self.skipped += n
        self.notes[note] += n
        return self

    def fail(self, note: str, n: int = 1) -> Tally:
        self.failed += n
        self.notes[note] += n
        return self

    def as_fields(self) -> dict[str, object]:
        return {"done": self.done, "skipped": self.skipped, "failed": self.failed, "notes": dict(self.notes)}


def decide(exc: BaseException, delivery_count: int, max_deliveries: int = MAX_DELIVERIES) -> Decision:
    """Poison a permanent failure at once, and any failure on the last allowed delivery."""
    return "retry" if isinstance(settle(exc, delivery_count, max_deliveries), Retry) else "poison"


def reason_of(exc: BaseException) -> str:
    """`Type: first line of the message`, bounded."""
    if isinstance(exc, ValidationError):
        return validation_reason(exc)
    first = (str(exc).splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first}"[:MAX_REASON_CHARS]


def validation_reason(exc: ValidationError) -> str:
    """`invalid body: to: value is not E.164; text: field required` (at most 5 errors)."""
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    more = len(exc.errors()) - 5
    if more > 0:
        parts.append(f"and {more} more")
    return ("invalid body: " + "; ".join(parts))[:MAX_REASON_CHARS]


def poison_queue(queue: str) -> str:
    return f"{queue}-poison"


def poison_note(
    *,
    queue: str,
    function: str,
    body: str,
    message_id: str,
    reason: str,
    delivery_count: int,
    now: dt.datetime,
    code: str = REJECTED,
) -> PoisonNote:
    """`reason` is the description; `code` the dead-letter reason."""
    truncated = len(body) > MAX_POISON_BODY_CHARS
    return PoisonNote(
        message_id=message_id,
        queue=queue,
        function=function,
        reason=reason[:MAX_REASON_CHARS],
        dead_letter_reason=code,
        dead_letter_error_description=reason[:MAX_DESCRIPTION_CHARS],
        delivery_count=delivery_count,
        poisoned_at=now,
        body=body[:MAX_POISON_BODY_CHARS],
        body_truncated=truncated,
    )
