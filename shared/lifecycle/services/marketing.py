"""Marketing sync (hourly): new and changed sign-ups, with their consent flag, to the marketing
system, incrementally from a stored cursor.

A sign-up is a tenant's owner (`User` with role `owner`, made by `POST /signup`): the contact
carries the email, name, company, `marketing_consent` and the user document's revision. A deleted
user is sent as `deleted=True` (so the marketing system forgets it), as is an owner demoted since.

**Cursor: the ConfigDB's revision-ordered watch.** The key `jobs/marketing-sync` holds the last
revision synced (`cursor`). A run watches the prefix `t/` from `cursor + 1` and reads the user
events up to a target revision (the revision of its own lease transaction, so every change
committed before the run started is included), stopping at the first event above the target or
at an idle `progress` frame at or above it; then stores the target as the new cursor. Work is
proportional to the changes since the last run, not to the number of users. The first run (no
cursor yet) lists every tenant's users instead (`idx/tenant/` then `t/{tid}/user/`). When the
node has compacted the revisions after the cursor, the watch yields a `Resync` image of `t/` and
every owner in it is sent again.

Overlap: the run takes a lease in the same key (compare-and-swap), so a second instance skips
while one is running; a crashed run's lease expires after `LEASE`. Each contact is sent with the
message id `{user_id}@{revision}`, so a retried run resends nothing the sink already has.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.configdb import (
    AsyncConfigDBClient,
    Compare,
    ConfigDBUnavailable,
    Op,
    Progress,
    Resync,
    WatchEvent,
)
from shared.configdb_keys import kind_prefix, parse_tenant_key, tenant_key
from shared.directory.models.tenant import Tenant
from shared.directory.models.user import Role, User
from shared.directory.services.tenant_scan import iter_tenants
from shared.errors import Unavailable
from shared.lifecycle.models import MarketingContact
from shared.lifecycle.ports import MarketingSink
from shared.ports import Clock
from shared.queue_work import Tally
from shared.values import UtcDatetime

STATE_KEY = "jobs/marketing-sync"
WATCH_PREFIX = "t/"
LEASE = dt.timedelta(minutes=20)
WATCH_TIMEOUT_S = 60.0


class SyncState(BaseModel):
    """Value of `jobs/marketing-sync`."""

    model_config = ConfigDict(extra="ignore")

    cursor: int | None = None
    lease_owner: str | None = None
    lease_until: UtcDatetime | None = None
    last_run_at: UtcDatetime | None = None
    sent_total: int = 0


# --------------------------------------------------------------------------- pure


def user_key_parts(key: str) -> tuple[str, str] | None:
    """`t/{tid}/user/{uid}` -> (tid, uid); None for any other key."""
    try:
        tid, kind, rest = parse_tenant_key(key)
    except ValueError:
        return None
    return (tid, rest) if kind == "user" and "/" not in rest else None


def contact_of(user: User, company: str | None, revision: int) -> MarketingContact:
    """The contact for a user document; a user who is not an owner is sent as deleted (an owner
    demoted since), without personal data."""
    if user.role is not Role.OWNER:
        return MarketingContact(user_id=user.id, tenant_id=user.tenant_id, revision=revision, deleted=True)
    return MarketingContact(
        user_id=user.id,
        tenant_id=user.tenant_id,
        email=user.email,
        name=user.name,
        company=company,
        marketing_consent=user.marketing_consent,
        signed_up_at=user.created_at,
        revision=revision,
    )


def message_id(contact: MarketingContact) -> str:
    return f"{contact.user_id}@{contact.revision}"


# --------------------------------------------------------------------------- the job


@dataclass
class MarketingSync:
    db: AsyncConfigDBClient
    sink: MarketingSink
    clock: Clock
    run_id: str
    region: str | None = None
    lease: dt.timedelta = LEASE

    async def run(self) -> tuple[Tally, dict[str, Any]]:
        """Returns the tally and fields for the run's log line (`from`, `to`, `mode`)."""
        tally = Tally()
        try:
            kv = await self.db.get_or_none(STATE_KEY)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        state = SyncState() if kv is None else SyncState.model_validate(kv.value)
        now = self.clock.now()
        if state.lease_until is not None and state.lease_until > now and state.lease_owner != self.run_id:
            return tally.skip("sync_in_flight"), {"cursor": state.cursor}
        leased = state.model_copy(update={"lease_owner": self.run_id, "lease_until": now + self.lease})
        ok, target = await self._txn(
            [Compare(STATE_KEY, 0 if kv is None else kv.revision)],
            [Op.put(STATE_KEY, leased.model_dump(mode="json"))],
        )
        if not ok:
            return tally.skip("sync_in_flight"), {"cursor": state.cursor}
        lease_rev = target
        contacts: dict[str, MarketingContact] = {}
        companies: dict[str, str | None] = {}
        if state.cursor is None:
            mode = "initial_scan"
            await self._scan(contacts, companies)
        else:
            mode = "watch"
            await self._watch(state.cursor, target, contacts, companies, tally)
        for contact in contacts.values():
            try:
                await self.sink.send(contact, message_id(contact))
            except Unavailable:
                tally.fail("sink_unavailable")
                continue
            tally.ok(
                "deleted" if contact.deleted else ("consented" if contact.marketing_consent else "no_consent")
            )
        fields = {"mode": mode, "from_revision": state.cursor, "to_revision": target}
        if tally.failed:  # keep the cursor: the next run sends these again (same message ids)
            target = state.cursor  # type: ignore[assignment]
        done = SyncState(
            cursor=target, last_run_at=self.clock.now(), sent_total=state.sent_total + tally.done
        )
        ok, _ = await self._txn(
            [Compare(STATE_KEY, lease_rev)], [Op.put(STATE_KEY, done.model_dump(mode="json"))]
        )
        if not ok:
            tally.skip("lease_lost")
        return tally, fields

    async def _scan(self, contacts: dict[str, MarketingContact], companies: dict[str, str | None]) -> None:
        async for entry in iter_tenants(self.db, self.region):
            if entry.tenant is None:
                continue
            companies[entry.tenant_id] = entry.tenant.name
            try:
                async for kv in self.db.iter_prefix(kind_prefix(entry.tenant_id, "user")):
                    self._add_put(
                        contacts, kv.key, kv.value, kv.revision, entry.tenant.name, non_owners=False
                    )
            except ConfigDBUnavailable as exc:
                raise Unavailable(str(exc)) from exc

    async def _watch(
        self,
        cursor: int,
        target: int,
        contacts: dict[str, MarketingContact],
        companies: dict[str, str | None],
        tally: Tally,
    ) -> None:
        if target <= cursor:
            return
        pending: list[WatchEvent] = []

        async def read() -> None:
            async with self.db.watch(WATCH_PREFIX, from_revision=cursor + 1, progress=True) as watch:
                async for item in watch:
                    if isinstance(item, WatchEvent):
                        if item.revision > target:
                            return
                        if user_key_parts(item.key) is not None:
                            pending.append(item)
                    elif isinstance(item, Resync):
                        tally.notes["resync_compacted"] += 1
                        pending.clear()  # the image supersedes the events read so far
                        for kv in item.items:
                            if user_key_parts(kv.key) is not None:
                                pending.append(
                                    WatchEvent(revision=kv.revision, type="put", key=kv.key, value=kv.value)
                                )
                        if item.revision >= target:
                            return
                    elif isinstance(item, Progress) and item.revision >= target:
                        return

        try:
            await asyncio.wait_for(read(), WATCH_TIMEOUT_S)
        except TimeoutError as exc:
            raise Unavailable(f"watch of {WATCH_PREFIX!r} did not reach revision {target}") from exc
        for ev in pending:
            parts = user_key_parts(ev.key)
            assert parts is not None
            if ev.type == "delete":
                contacts[parts[1]] = MarketingContact(
                    user_id=parts[1], tenant_id=parts[0], revision=ev.revision, deleted=True
                )
                continue
            company = await self._company(parts[0], companies)
            self._add_put(contacts, ev.key, ev.value, ev.revision, company, non_owners=True)

    def _add_put(
        self,
        contacts: dict[str, MarketingContact],
        key: str,
        value: Any,
        revision: int,
        company: str | None,
        *,
        non_owners: bool,
    ) -> None:
        """Add the contact for a user document. Members are no sign-ups: the first scan leaves
        them out; the watch sends them as deleted (they may be owners demoted since)."""
        if user_key_parts(key) is None:
            return
        try:
            user = User.model_validate(value)
        except ValidationError:
            return
        contact = contact_of(user, company, revision)
        if contact.deleted and not non_owners:
            return
        contacts[user.id] = contact

    async def _company(self, tenant_id: str, companies: dict[str, str | None]) -> str | None:
        if tenant_id not in companies:
            try:
                kv = await self.db.get_or_none(tenant_key(tenant_id))
            except ConfigDBUnavailable as exc:
                raise Unavailable(str(exc)) from exc
            try:
                companies[tenant_id] = None if kv is None else Tenant.model_validate(kv.value).name
            except ValidationError:
                companies[tenant_id] = None
        return companies[tenant_id]

    async def _txn(self, compare: list[Compare], ops: list[Op]) -> tuple[bool, int]:
        try:
            result = await self.db.txn(compare, ops)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return result.succeeded, result.revision
