"""A new voicemail blob: make sure its feed item exists, then notify the box owner.

The SIP edge uploads `voicemail/{tenant}/{user}/{id}.wav` (the id is not the call id), then
writes the call record (`voicemail_blob` names the blob) and the unread `voicemail:{call_id}`
activity. The blob trigger may see the blob before the record is written, so `on_new_blob`
waits up to `record_wait_s` for it. Then:

1. The activity `voicemail:{call_id}` is added if the edge has not written it, or refreshed
   (its data completed with the blob and the duration, keeping read/archived) if it lacks them.
   No record after the wait (the edge crashed, or its History write failed): the voicemail still
   reaches its user as `voicemail:blob:{id}` (`orphan`).
2. Messages are queued as the user chose (`User.notify`): an email with the WAV attached (by blob
   reference, read by the email sink), an SMS, a push to their devices. Message ids derive from
   the activity id, so a rerun queues the same ids.

Counted outcomes that never raise: `ignored` (not a voicemail blob name), `blob_missing` (deleted
since), `tenant_gone`, `user_gone`. Transient errors (ConfigDB, History, the bus) raise, so the
host retries; everything done before is idempotent.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from shared.history.models.call import ActivityItem, CallRecord
from shared.history.ports import BlobProbe, VoicemailHistory
from shared.media.audio import AudioError, wav_format
from shared.notifications.services.notify import (
    orphan_voicemail_activity,
    refreshed,
    voicemail_activity,
    voicemail_notifications,
)
from shared.notifications.services.recipients import Recipients
from shared.ports import Clock, MessageBus

log = logging.getLogger("services.voicemail_events")

CONTAINER = "voicemail"
RECORD_WAIT_S = 20.0
RECORD_POLL_S = 0.5
SEARCH_PAGES = 5
SEARCH_PAGE_SIZE = 100
_NAME = re.compile(r"^(?P<tenant>[^/]+)/(?P<user>[^/]+)/(?P<id>[^/]+)\.wav$")


class Outcome(enum.StrEnum):
    NOTIFIED = "notified"  # the activity exists and the notifications are queued
    ORPHAN = "orphan"  # same, but no call record was found: activity voicemail:blob:{id}
    IGNORED = "ignored"
    BLOB_MISSING = "blob_missing"
    TENANT_GONE = "tenant_gone"
    USER_GONE = "user_gone"


@dataclass(frozen=True)
class VoicemailBlob:
    tenant_id: str
    user_id: str
    blob_id: str
    name: str  # inside the container

    @property
    def path(self) -> str:
        return f"{CONTAINER}/{self.name}"


def parse_voicemail_blob(name: str) -> VoicemailBlob | None:
    """`{tenant}/{user}/{id}.wav` (or with the `voicemail/` container in front), else None."""
    if name.startswith(f"{CONTAINER}/"):
        name = name[len(CONTAINER) + 1 :]
    m = _NAME.fullmatch(name)
    if m is None:
        return None
    return VoicemailBlob(m["tenant"], m["user"], m["id"], name)


def wav_seconds(data: bytes | None) -> float | None:
    if not data:
        return None
    try:
        return round(wav_format(data).duration, 2)
    except AudioError:
        return None


@dataclass
class VoicemailResult:
    outcome: Outcome
    tenant_id: str | None = None
    user_id: str | None = None
    call_id: str | None = None
    activity_id: str | None = None
    activity: str | None = None  # "added" | "refreshed" | "kept"
    queued: list[str] = field(default_factory=list)  # queue names

    def fields(self) -> dict[str, Any]:
        kept = {k: v for k, v in vars(self).items() if k != "outcome" and v not in (None, [])}
        return kept | {"result": self.outcome.value}


class VoicemailEvents:
    def __init__(
        self,
        *,
        history: VoicemailHistory,
        recipients: Recipients,
        media: BlobProbe,
        bus: MessageBus,
        clock: Clock,
        portal_url: str,
        record_wait_s: float = RECORD_WAIT_S,
        poll_s: float = RECORD_POLL_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.history, self.recipients, self.media, self.bus = history, recipients, media, bus
        self.clock, self.portal_url = clock, portal_url
        self.record_wait_s, self.poll_s, self.sleep = record_wait_s, poll_s, sleep

    async def on_new_blob(self, name: str, data: bytes | None = None) -> VoicemailResult:
        """`name` is the blob's name in `voicemail` (a `voicemail/` prefix is accepted); `data`
        its bytes when the trigger already read them (for the duration)."""
        vm = parse_voicemail_blob(name)
        if vm is None:
            return VoicemailResult(Outcome.IGNORED)
        result = VoicemailResult(Outcome.NOTIFIED, tenant_id=vm.tenant_id, user_id=vm.user_id)
        tenant = await self.recipients.tenant(vm.tenant_id)
        if tenant is None:
            result.outcome = Outcome.TENANT_GONE
            return result
        user = await self.recipients.user(vm.tenant_id, vm.user_id)
        if user is None:
            result.outcome = Outcome.USER_GONE
            return result
        if not await self.media.exists(CONTAINER, vm.name):
            result.outcome = Outcome.BLOB_MISSING
            return result
        seconds = wav_seconds(data)
        record = await self.wait_for_record(vm)
        if record is not None:
            wanted = voicemail_activity(record, user.id, seconds)
            result.call_id = record.call_id
        else:
            wanted = orphan_voicemail_activity(
                vm.tenant_id, user.id, vm.blob_id, vm.path, seconds, self.clock.now()
            )
            result.outcome = Outcome.ORPHAN
        activity, result.activity = await self.ensure_activity(wanted)
        result.activity_id = activity.id
        devices = await self.recipients.devices(vm.tenant_id, user.id)
        outbound = voicemail_notifications(
            tenant=tenant,
            user=user,
            activity=activity,
            blob=vm.path,
            seconds=activity.data.get("seconds", seconds),
            number_called=record.number_called if record else None,
            has_devices=bool(devices),
            portal_url=self.portal_url,
        )
        for msg in outbound:
            await self.bus.send(msg.queue, msg.body, msg.message_id)
            result.queued.append(msg.queue)
        return result

    async def find_record(self, vm: VoicemailBlob) -> CallRecord | None:
        """The newest calls of the user, searched for the one that left this blob."""
        cursor: str | None = None
        for _ in range(SEARCH_PAGES):
            page = await self.history.list_calls(
                vm.tenant_id, user_id=vm.user_id, limit=SEARCH_PAGE_SIZE, cursor=cursor
            )
            for record in page.items:
                if record.voicemail_blob == vm.path:
                    return record  # type: ignore[no-any-return]
            cursor = page.next_cursor
            if cursor is None:
                return None
        return None

    async def wait_for_record(self, vm: VoicemailBlob) -> CallRecord | None:
        deadline = time.monotonic() + self.record_wait_s
        while True:
            record = await self.find_record(vm)
            if record is not None or time.monotonic() >= deadline:
                return record
            await self.sleep(self.poll_s)

    async def ensure_activity(self, wanted: ActivityItem) -> tuple[ActivityItem, str]:
        assert wanted.user_id is not None
        existing = await self.history.get_activity(wanted.tenant_id, wanted.user_id, wanted.id)
        if existing is None:
            if await self.history.add_activity(wanted):
                return wanted, "added"
            existing = await self.history.get_activity(wanted.tenant_id, wanted.user_id, wanted.id)
            if existing is None:  # added and deleted meanwhile: the user removed it
                return wanted, "kept"
        replacement = refreshed(existing, wanted)
        if replacement is None:
            return existing, "kept"
        await self.history.delete_activity(existing.tenant_id, wanted.user_id, existing.id)
        await self.history.add_activity(replacement)
        return replacement, "refreshed"
