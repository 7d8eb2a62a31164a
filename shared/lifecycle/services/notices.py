"""Exactly-once notices (trial ended, trial reminders): a guard key per notice in the ConfigDB.

A notice for a tenant is the key `t/{tid}/notice/{name}` holding a `NoticeRecord`. Sending is a
small outbox protocol, safe when two job instances overlap:

1. *claim*: one transaction compares the tenant document's revision (the facts the notice is
   about have not changed) and the notice key's revision (absent, or the stale record read), and
   writes the record as `sending`. Of two overlapping runs only one claim commits.
2. *send*: the email is queued with a message id derived from the notice (same id on a resend,
   so the SMTP Message-ID lets receivers drop a duplicate).
3. *confirm*: the record becomes `sent` (compare-and-swap on the claim's revision).

A run that dies between 1 and 3 leaves a `sending` record; after `NOTICE_LEASE` another run
claims it again and resends with the same message id. A record written for another trial end
(the trial was extended) does not count, so the new end gets its own notice. The key lives under
`t/{tid}/`, so the tenants cleaner removes it with the tenant; the SIP edge ignores the kind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.configdb import KV, AsyncConfigDBClient, Compare, ConfigDBUnavailable, Op
from shared.configdb_keys import tenant_prefix
from shared.errors import Unavailable
from shared.values import UtcDatetime

NOTICE_LEASE = dt.timedelta(minutes=10)

NoticeState = Literal["sending", "sent", "skipped"]
Decision = Literal["claim", "in_flight", "done"]


def notice_key(tenant_id: str, name: str) -> str:
    return f"{tenant_prefix(tenant_id)}notice/{name}"


class NoticeRecord(BaseModel):
    model_config = ConfigDict(extra="ignore")

    state: NoticeState
    message_id: str
    subject_at: UtcDatetime | None = None
    """The fact the notice is about (the trial end it announces); another value is another notice."""
    claimed_at: UtcDatetime
    sent_at: UtcDatetime | None = None
    reason: str | None = None


def decide(
    record: NoticeRecord | None, *, subject_at: dt.datetime | None, now: dt.datetime, lease: dt.timedelta
) -> Decision:
    """Pure: claim (and send) the notice, leave it to the run that claimed it, or nothing to do."""
    if record is None or record.subject_at != subject_at:
        return "claim"
    if record.state != "sending":
        return "done"
    return "in_flight" if now - record.claimed_at < lease else "claim"


@dataclass(frozen=True)
class Claimed:
    key: str
    record: NoticeRecord
    revision: int


class Notices:
    """Reads, claims and confirms notice records."""

    def __init__(self, db: AsyncConfigDBClient, lease: dt.timedelta = NOTICE_LEASE) -> None:
        self.db, self.lease = db, lease

    async def read(self, tenant_id: str, name: str) -> tuple[NoticeRecord | None, int]:
        kv = await _get(self.db, notice_key(tenant_id, name))
        return (None, 0) if kv is None else (NoticeRecord.model_validate(kv.value), kv.revision)

    async def claim(
        self,
        tenant_id: str,
        name: str,
        record: NoticeRecord,
        *,
        notice_revision: int,
        guard: list[Compare],
        also: list[Op] | None = None,
    ) -> Claimed | None:
        """Write `record` (state `sending`) if the notice is still at `notice_revision` and every
        `guard` holds, together with `also` (e.g. the suspended tenant); None if another run won."""
        key = notice_key(tenant_id, name)
        compare = [*guard, Compare(key, notice_revision)]
        ops = [*(also or []), Op.put(key, record.model_dump(mode="json"))]
        ok, revision = await _txn(self.db, compare, ops)
        return Claimed(key, record, revision) if ok else None

    async def finish(
        self, claimed: Claimed, state: NoticeState, now: dt.datetime, reason: str | None
    ) -> bool:
        """Mark a claimed notice `sent` or `skipped`; False if another run re-claimed it since."""
        done = claimed.record.model_copy(update={"state": state, "sent_at": now, "reason": reason})
        ok, _ = await _txn(
            self.db,
            [Compare(claimed.key, claimed.revision)],
            [Op.put(claimed.key, done.model_dump(mode="json"))],
        )
        return ok


async def _get(db: AsyncConfigDBClient, key: str) -> KV | None:
    try:
        return await db.get_or_none(key)
    except ConfigDBUnavailable as exc:
        raise Unavailable(str(exc)) from exc


async def _txn(db: AsyncConfigDBClient, compare: list[Compare], ops: list[Op]) -> tuple[bool, int]:
    try:
        result = await db.txn(compare, ops)
    except ConfigDBUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    return result.succeeded, result.revision
