"""Pure rules every queue handler follows: what one run did, when to give up, what to record.

- A run's outcome is a `Tally` of items done, skipped (a counted, expected outcome such as a
  deleted tenant or a dead push token) and failed, with a reason per count (`notes`).
- `decide(exc, delivery_count)`: a `Rejected` error (permanent) or the last allowed delivery
  poisons the message now; anything else is retried by the host (it redelivers the message).
- `poison_note(...)` is the body put on `<queue>-poison`: the original text and the reason.
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
    if isinstance(exc, Rejected) or delivery_count >= max_deliveries:
        return "poison"
    return "retry"


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
) -> PoisonNote:
    truncated = len(body) > MAX_POISON_BODY_CHARS
    return PoisonNote(
        message_id=message_id,
        queue=queue,
        function=function,
        reason=reason[:MAX_REASON_CHARS],
        delivery_count=delivery_count,
        poisoned_at=now,
        body=body[:MAX_POISON_BODY_CHARS],
        body_truncated=truncated,
    )
