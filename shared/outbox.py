"""The transactional outbox: a queue message written in the same ConfigDB transaction as the write
that causes it, then moved to the bus by a relay.

A service that must send a message because of a write (the sign-up's verification email, a
password-reset link) adds `entry(...)` to the claims of that write's transaction, so the message
exists exactly when the write committed. `OutboxRelay` then moves entries to the `MessageBus`
and deletes them:

- right after the commit, `deliver_now(key)`: one best-effort attempt bounded by
  `IMMEDIATE_TIMEOUT_S`; a bus outage is logged and leaves the entry in place;
- on a timer (`outbox_relay` in functions/notifications.py), `relay()`: every entry, oldest first.

A bus outage therefore delays a message and never loses it. The relay sends before it deletes,
so a crash between the two sends the message again with the same `message_id` (the producer's
idempotency key): at most a duplicate, which the consumer recognises by that id (the email sink
makes it the SMTP `Message-ID`). Entries live under the global `jobs/outbox/` prefix
(`shared.configdb_keys.outbox_key`), not under `t/{tid}/`, so the relay lists one prefix and the
readers of tenant snapshots (the edge, the marketing sync) never see them.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.configdb_keys import OUTBOX_PREFIX, outbox_key
from shared.errors import NotFoundError, PreconditionFailed
from shared.ports import DocumentRepo, MessageBus
from shared.queue_work import Tally
from shared.values import UtcDatetime, new_ulid

log = logging.getLogger("shared.outbox")

IMMEDIATE_TIMEOUT_S = 3.0
"""The longest a request waits for its best-effort delivery before answering (the timer relays
whatever is left)."""

RELAY_BATCH = 500
"""Entries one relay run moves at most (oldest first); the next run takes the rest."""


class OutboxEntry(BaseModel):
    """Value of `jobs/outbox/{ulid}`: one message for `queue`, with its idempotency key."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1, max_length=64)
    queue: str = Field(min_length=1, max_length=63)
    body: dict[str, Any]
    message_id: str = Field(min_length=1, max_length=200)
    tenant_id: str | None = None
    created_at: UtcDatetime


def entry(
    queue: str, body: dict[str, Any], message_id: str, *, tenant_id: str | None, now: dt.datetime
) -> tuple[str, dict[str, Any]]:
    """The key and value to claim in the triggering write's transaction."""
    entry_id = new_ulid(now)
    value = OutboxEntry(
        id=entry_id, queue=queue, body=body, message_id=message_id, tenant_id=tenant_id, created_at=now
    )
    return outbox_key(entry_id), value.model_dump(mode="json")


@dataclass
class OutboxRelay:
    repo: DocumentRepo
    bus: MessageBus
    immediate_timeout_s: float = IMMEDIATE_TIMEOUT_S
    batch: int = RELAY_BATCH
    _log: logging.Logger = field(default=log, repr=False)

    async def deliver(self, key: str) -> bool:
        """Send one entry and delete it. False when it is already gone (another relay took it).
        Raises `Unavailable` when the bus (or the ConfigDB) cannot be reached: the entry stays."""
        got = await self.repo.get(key, OutboxEntry)
        if got is None:
            return False
        doc = got.doc
        await self.bus.send(doc.queue, doc.body, doc.message_id)
        # gone already: a concurrent relay sent it too and the consumer drops the duplicate
        with contextlib.suppress(NotFoundError, PreconditionFailed):
            await self.repo.delete(key, got.revision)
        self._log.info(
            "outbox entry relayed",
            extra={
                "event": "outbox_relayed",
                "key": key,
                "queue": doc.queue,
                "message_id": doc.message_id,
                "tenant_id": doc.tenant_id,
            },
        )
        return True

    async def deliver_now(self, key: str, tenant_id: str | None = None) -> bool:
        """The best-effort attempt right after the commit: never raises, waits at most
        `immediate_timeout_s`. True when the entry left the outbox."""
        try:
            return await asyncio.wait_for(self.deliver(key), self.immediate_timeout_s)
        except Exception as exc:  # the write is committed: the timer relays what this could not
            self._log.warning(
                "outbox entry left for the relay",
                extra={
                    "event": "outbox_deferred",
                    "key": key,
                    "tenant_id": tenant_id,
                    "reason": f"{type(exc).__name__}: {exc}",
                },
            )
            return False

    async def relay(self) -> Tally:
        """Move every entry (up to `batch`, oldest first). Stops at the first `Unavailable`
        (the bus is down: the rest would fail the same way) and raises it; the next run retries."""
        tally = Tally()
        entries = await self.repo.list(OUTBOX_PREFIX, OutboxEntry)
        for key in sorted(outbox_key(v.doc.id) for v in entries)[: self.batch]:
            if await self.deliver(key):
                tally.ok("relayed")
            else:
                tally.skip("already_relayed")
        return tally
