"""Trials: the trial stopper (every 5 minutes) and the trial reminders (hourly).

Pure rules first (`stop_decision`, `due_reminder`, the email texts), then `TrialJobs`, which
applies them to every tenant of the region over the ConfigDB and the `email` queue.

- **Stopper.** A tenant in `trial` whose `trial_ends_at` has passed and that has no
  `billing_account_id` is suspended: one transaction compares the tenant's revision, writes it
  back as `suspended` (with `status_changed_at`) and claims the `trial-ended` notice (see
  `shared.lifecycle.services.notices`); then the owner's email is queued. The SIP edge answers the numbers
  of a suspended tenant with the "service suspended" announcement. Two overlapping runs: one
  transaction wins, the other sees the notice in flight. A run that died after suspending is
  finished by a later run (the notice is resent after its lease, with the same message id).
- **Reminders.** 3 days and 1 day before the end, exactly once each per trial end: the most urgent
  reminder due is claimed in a transaction that also compares the tenant's revision (still the
  same trial end), then queued, then confirmed. A 3-day reminder that was missed (the trial
  was already less than a day from its end) is not sent late; the 1-day one is.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from shared.configdb import AsyncConfigDBClient, Compare, ConfigDBUnavailable, Op
from shared.configdb_keys import tenant_key, user_key
from shared.directory.models.tenant import Tenant, TenantStatus
from shared.directory.models.user import User
from shared.directory.services.tenant_scan import TenantEntry, iter_tenants, read_tenant
from shared.errors import Unavailable
from shared.lifecycle.services.notices import NOTICE_LEASE, Claimed, NoticeRecord, Notices, decide
from shared.notifications.models import EMAIL_QUEUE
from shared.ports import Clock, MessageBus
from shared.queue_work import Tally
from shared.values import format_utc

REMINDER_DAYS: tuple[int, ...] = (3, 1)
TRIAL_ENDED = "trial-ended"

StopDecision = Literal["stop", "running", "billing_account", "not_trial"]

# --------------------------------------------------------------------------- pure rules


def stop_decision(tenant: Tenant, now: dt.datetime) -> StopDecision:
    if tenant.status is not TenantStatus.TRIAL or tenant.trial_ends_at is None:
        return "not_trial"
    if tenant.trial_ends_at > now:
        return "running"
    return "billing_account" if tenant.billing_account_id else "stop"


def suspended(tenant: Tenant, now: dt.datetime) -> Tenant:
    """The tenant after its trial ended: suspended since `now`."""
    data = tenant.model_dump(mode="json")
    data.update(status=TenantStatus.SUSPENDED.value, status_changed_at=format_utc(now))
    return Tenant.model_validate(data)


def resumed(tenant: Tenant, now: dt.datetime) -> Tenant:
    """The tenant an operator resumes: `active` with a billing account, else back in `trial`
    (which needs a trial end still ahead: `ValueError` otherwise, extend the trial first)."""
    if tenant.status is not TenantStatus.SUSPENDED:
        raise ValueError(f"the tenant is {tenant.status.value}, not suspended")
    if tenant.billing_account_id:
        status = TenantStatus.ACTIVE
    elif tenant.trial_ends_at is not None and tenant.trial_ends_at > now:
        status = TenantStatus.TRIAL
    else:
        raise ValueError("the trial has ended and there is no billing account; extend the trial first")
    data = tenant.model_dump(mode="json")
    data.update(status=status.value, status_changed_at=format_utc(now))
    return Tenant.model_validate(data)


def trial_extended(tenant: Tenant, days: int, now: dt.datetime) -> Tenant:
    """The trial end moved `days` later, counted from now when it has already passed. The status
    stays (a suspended tenant is resumed separately)."""
    if days < 1:
        raise ValueError("extend by at least one day")
    if tenant.status not in (TenantStatus.TRIAL, TenantStatus.SUSPENDED) or tenant.billing_account_id:
        raise ValueError(f"the tenant is {tenant.status.value} and not on a trial")
    start = max(tenant.trial_ends_at or now, now)
    data = tenant.model_dump(mode="json")
    data.update(trial_ends_at=format_utc(start + dt.timedelta(days=days)))
    return Tenant.model_validate(data)


def due_reminder(tenant: Tenant, now: dt.datetime) -> int | None:
    """The reminder (days before the end) a trial is due now: 1 within the last day, 3 within the
    last three days before that; None otherwise (no trial, billed, ended, or too early)."""
    if tenant.status is not TenantStatus.TRIAL or tenant.trial_ends_at is None or tenant.billing_account_id:
        return None
    left = tenant.trial_ends_at - now
    if left <= dt.timedelta(0):
        return None
    for days in sorted(REMINDER_DAYS):
        if left <= dt.timedelta(days=days):
            return days
    return None


def reminder_name(days: int) -> str:
    return f"trial-reminder-{days}d"


def notice_message_id(name: str, tenant_id: str, subject_at: dt.datetime | None) -> str:
    stamp = subject_at.strftime("%Y%m%dT%H%M%SZ") if subject_at else "none"
    return f"{name}-{tenant_id}-{stamp}"


def trial_ended_email(tenant: Tenant, owner: User, portal_url: str) -> dict[str, Any]:
    ended = tenant.trial_ends_at.strftime("%Y-%m-%d %H:%M UTC") if tenant.trial_ends_at else "today"
    link = f"{portal_url}/billing"
    name, company = owner.name, tenant.name
    return {
        "kind": "trial-ended",
        "to": owner.email,
        "subject": f"Your trial of {company} has ended",
        "text": f"Hello {name},\n\nthe free trial of {company} ended on {ended}. Your phone numbers now "
        f"answer callers with an announcement that the service is suspended.\n\n"
        f"Add a billing account to switch everything back on:\n\n{link}\n",
        "html": f"<p>Hello {html.escape(name)},</p><p>the free trial of {html.escape(company)} ended on "
        f"{ended}. Your phone numbers now answer callers with an announcement that the service is "
        f'suspended.</p><p><a href="{link}">Add a billing account</a> to switch everything back on.</p>',
    }


def reminder_email(tenant: Tenant, owner: User, days: int, portal_url: str) -> dict[str, Any]:
    assert tenant.trial_ends_at is not None
    when = "tomorrow" if days == 1 else f"in {days} days"
    ends = tenant.trial_ends_at.strftime("%Y-%m-%d %H:%M UTC")
    link = f"{portal_url}/billing"
    name, company = owner.name, tenant.name
    return {
        "kind": "trial-reminder",
        "to": owner.email,
        "subject": f"Your trial of {company} ends {when}",
        "text": f"Hello {name},\n\nthe free trial of {company} ends {when} ({ends}). To keep your "
        f"numbers answering calls after that, add a billing account:\n\n{link}\n",
        "html": f"<p>Hello {html.escape(name)},</p><p>the free trial of {html.escape(company)} ends "
        f'{when} ({ends}).</p><p><a href="{link}">Add a billing account</a> to keep your numbers '
        f"answering calls.</p>",
    }


# --------------------------------------------------------------------------- the jobs


@dataclass
class TrialJobs:
    db: AsyncConfigDBClient
    bus: MessageBus
    clock: Clock
    portal_url: str
    region: str | None = None
    lease: dt.timedelta = NOTICE_LEASE

    @property
    def notices(self) -> Notices:
        return Notices(self.db, self.lease)

    # ------------------------------------------------------------ stopper

    async def stop_expired(self) -> Tally:
        tally = Tally()
        async for entry in iter_tenants(self.db, self.region):
            try:
                await self._stop_one(entry, tally)
            except Unavailable as exc:
                tally.fail(f"unavailable:{type(exc.__cause__ or exc).__name__}")
        return tally

    async def _stop_one(self, entry: TenantEntry, tally: Tally) -> None:
        for _ in range(3):  # re-read after losing a race with a concurrent change
            tenant = entry.tenant
            if tenant is None:
                return
            now = self.clock.now()
            decision = stop_decision(tenant, now)
            if decision == "billing_account":
                tally.skip("billing_account")
                return
            if decision == "stop":
                claimed = await self._suspend(entry, tenant, now)
                if claimed is not None:
                    tally.notes["suspended"] += 1
                    await self._deliver(claimed, tenant, tally, self._ended_body)
                    return
                entry = await read_tenant(self.db, entry.tenant_id)
                continue
            if tenant.status is TenantStatus.SUSPENDED:
                await self._resend_pending(entry, tenant, tally)
            return
        tally.skip("contended")

    async def _suspend(self, entry: TenantEntry, tenant: Tenant, now: dt.datetime) -> Claimed | None:
        _, rev = await self.notices.read(tenant.id, TRIAL_ENDED)
        after = suspended(tenant, now)
        claim = NoticeRecord(
            state="sending",
            message_id=notice_message_id(TRIAL_ENDED, tenant.id, tenant.trial_ends_at),
            subject_at=tenant.trial_ends_at,
            claimed_at=now,
        )
        return await self.notices.claim(
            tenant.id,
            TRIAL_ENDED,
            claim,
            notice_revision=rev,
            guard=[Compare(tenant_key(tenant.id), entry.revision)],
            also=[Op.put(tenant_key(tenant.id), after.model_dump(mode="json"))],
        )

    async def _resend_pending(self, entry: TenantEntry, tenant: Tenant, tally: Tally) -> None:
        """A tenant suspended by a run that died before its email was confirmed."""
        record, rev = await self.notices.read(tenant.id, TRIAL_ENDED)
        if record is None or record.state != "sending":
            return
        now = self.clock.now()
        if decide(record, subject_at=record.subject_at, now=now, lease=self.lease) != "claim":
            tally.skip("notice_in_flight")
            return
        again = record.model_copy(update={"claimed_at": now})
        claimed = await self.notices.claim(tenant.id, TRIAL_ENDED, again, notice_revision=rev, guard=[])
        if claimed is None:
            tally.skip("notice_in_flight")
            return
        tally.notes["resent"] += 1
        await self._deliver(claimed, tenant, tally, self._ended_body)

    def _ended_body(self, tenant: Tenant, owner: User) -> dict[str, Any]:
        return trial_ended_email(tenant, owner, self.portal_url)

    # ------------------------------------------------------------ reminders

    async def send_reminders(self) -> Tally:
        tally = Tally()
        async for entry in iter_tenants(self.db, self.region):
            try:
                await self._remind_one(entry, tally)
            except Unavailable as exc:
                tally.fail(f"unavailable:{type(exc.__cause__ or exc).__name__}")
        return tally

    async def _remind_one(self, entry: TenantEntry, tally: Tally) -> None:
        tenant = entry.tenant
        if tenant is None:
            return
        now = self.clock.now()
        days = due_reminder(tenant, now)
        if days is None:
            return
        name = reminder_name(days)
        record, rev = await self.notices.read(tenant.id, name)
        decision = decide(record, subject_at=tenant.trial_ends_at, now=now, lease=self.lease)
        if decision == "done":
            tally.skip(f"already_sent_{days}d")
            return
        if decision == "in_flight":
            tally.skip("notice_in_flight")
            return
        claim = NoticeRecord(
            state="sending",
            message_id=notice_message_id(name, tenant.id, tenant.trial_ends_at),
            subject_at=tenant.trial_ends_at,
            claimed_at=now,
        )
        claimed = await self.notices.claim(
            tenant.id,
            name,
            claim,
            notice_revision=rev,
            guard=[Compare(tenant_key(tenant.id), entry.revision)],
        )
        if claimed is None:
            tally.skip("contended")
            return
        await self._deliver(
            claimed,
            tenant,
            tally,
            lambda t, owner: reminder_email(t, owner, days, self.portal_url),
            f"{days}d",
        )

    # ------------------------------------------------------------ delivery

    async def _deliver(
        self,
        claimed: Claimed,
        tenant: Tenant,
        tally: Tally,
        body: Callable[[Tenant, User], dict[str, Any]],
        label: str = "",
    ) -> None:
        owner = await self._owner(tenant)
        now = self.clock.now()
        if owner is None:
            await self.notices.finish(claimed, "skipped", now, "no_owner")
            tally.skip("no_owner")
            return
        try:
            await self.bus.send(
                EMAIL_QUEUE,
                {**body(tenant, owner), "tenant_id": tenant.id, "user_id": owner.id},
                claimed.record.message_id,
            )
        except Unavailable:
            tally.fail("email_queue_unavailable")  # the claim's lease expires; a later run resends
            return
        await self.notices.finish(claimed, "sent", now, None)
        tally.ok(f"emailed_{label}" if label else "emailed")

    async def _owner(self, tenant: Tenant) -> User | None:
        if tenant.owner_user_id is None:
            return None
        try:
            kv = await self.db.get_or_none(user_key(tenant.id, tenant.owner_user_id))
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return None if kv is None else User.model_validate(kv.value)
