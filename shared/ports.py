"""Ports every domain uses: the clock and the message bus. Adapters implement them.

Each domain keeps its own ports in `shared/<domain>/ports.py`.

Services never import an SDK; they receive these and are tested with the real adapters
(integration) or, only where nothing real fits (time, a recording bus), small fakes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol


class MessageBus(Protocol):
    """Puts work on a named queue (Service Bus in Azure, an Azurite Storage queue locally).

    Delivery is at-least-once: a consumer may see a message twice, so `message_id` is the
    idempotency key the consumer keeps. `body` must be JSON-serialisable. Raises
    `shared.errors.Unavailable` when the queue service cannot be reached; the message is
    then not queued and the caller decides whether to retry.
    """

    async def send(self, queue: str, body: dict[str, Any], message_id: str) -> None: ...


class Clock(Protocol):
    """Wall-clock time. `now()` is an aware UTC datetime."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)
