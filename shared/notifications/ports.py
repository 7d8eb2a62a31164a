"""Ports of the notifications domain: the SMS and push providers. Adapters implement them."""

from __future__ import annotations

from typing import Any, Protocol


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
