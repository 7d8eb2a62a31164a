"""Ports of the notifications domain: the mail server, the SMS and push providers, and the
History DB as the missed-call handler uses it. Adapters implement them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from shared.history.models.call import ActivityItem, CallRecord
from shared.notifications.models import AttachmentFile, OutgoingEmail


class Mailer(Protocol):
    """Sends one email (SMTP behind it: a relay in Azure, the local catcher in development).

    `files` are the attachments' bytes, already resolved from `mail.attachments`. The message
    goes out with `Message-ID` derived from `mail.message_id`, so receivers drop the duplicate
    of a redelivered queue message; the send itself is not idempotent. Raises
    `shared.errors.Unavailable` when the server cannot take the message now (retry), and
    `shared.errors.Rejected` when it refuses the message for good.
    """

    async def send(self, mail: OutgoingEmail, files: Sequence[AttachmentFile] = ()) -> None: ...


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


class MissedCallHistory(Protocol):
    """The History DB as the missed-call handler uses it (`AsyncHistoryStore` implements it).

    Tenant-scoped like `shared.history.ports.HistoryStore`: `get_call` returns None for a call
    id of another tenant. `add_activity` is idempotent by the item's id (False: it existed, nothing
    changed) and raises `ConflictError` when the id belongs to another tenant. Both raise
    `shared.errors.Unavailable` when the store cannot be reached.
    """

    async def get_call(self, tenant_id: str, call_id: str) -> CallRecord | None: ...

    async def add_activity(self, item: ActivityItem) -> bool: ...
