"""Ports: the outbound interfaces services depend on. Adapters implement them.

Services never import an SDK; they receive these and are tested with the real adapters
(integration) or, only where nothing real fits (time, a recording bus), small fakes.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from shared.models.active_call import ActiveCall


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


class SmsSender(Protocol):
    """Sends one text message (an SMS provider behind it; locally a recorder).

    `to` is E.164. `message_id` is the idempotency key: a redelivered queue message sends with the
    same key, and a provider that supports one (or the local recorder) sends it once. Raises
    `shared.errors.Unavailable` on a transient failure and `shared.errors.Rejected` when the
    provider refuses the message for good (bad number, opted out).
    """

    async def send(self, to: str, text: str, message_id: str) -> None: ...


class PushSender(Protocol):
    """Sends one notification to one device token (APNs or FCM behind it; locally a recorder).

    `platform` is "apns" or "fcm"; `payload` is JSON-serialisable; `message_id` is the idempotency
    key (APNs `apns-collapse-id`, FCM message id). Returns "sent", or "dead_token" when the provider
    reports the token unregistered or invalid (the caller removes it). Raises
    `shared.errors.Unavailable` on a transient failure.
    """

    async def send(self, platform: str, token: str, payload: dict[str, Any], message_id: str) -> str: ...


class CallControl(Protocol):
    """The SIP edge's call control (its HTTP API at EDGE_CONTROL_URL, bearer EDGE_CONTROL_TOKEN).

    Every call is scoped to one tenant: a call id of another tenant is treated as unknown.
    Raises `shared.errors.Unavailable` when the edge cannot be reached or answers with a server
    error, and `shared.errors.CallRefused` when it refuses the request.
    """

    async def click_to_call(self, tenant_id: str, user_id: str, destination: str) -> ActiveCall:
        """Ring the user's first forwarding number, then dial `destination` (E.164) and bridge.
        Returns at once with the call in state `ringing_user`."""
        ...

    async def active_calls(self, tenant_id: str) -> list[ActiveCall]: ...

    async def hang_up(self, tenant_id: str, call_id: str) -> bool:
        """Hang up a live call of the tenant; False when there is none with that id."""
        ...
