"""Tenants cleaner (daily): cancelled or suspended tenants past the retention lose everything.

Eligible: status `cancelled` or `suspended` since `status_changed_at` + `RETENTION` (30 days).
A closed tenant without `status_changed_at` (written before the field existed) gets it stamped
now, so its retention starts counting.

Progress lives in a global key `cleanup/{tid}` (`CleanupProgress`), outside the tenant's own
prefix so it survives the deletion of that prefix. The steps, in order, each idempotent:

1. `config`: every key under `t/{tid}/` is deleted, in transactions of at most `BATCH` keys that
   compare each key's revision and delete, in the same transaction, the global index entries the
   documents own: `idx/number/{e164}` of a number and `idx/email/{email}` of a user (each only
   while it still points at this tenant, compared by revision) and `auth/unverified/{user}`. So an
   index never outlives its document, and one claimed since by another tenant is never touched.
   A released number's inventory entry (`idx/inventory/{e164}`, when assigned to this tenant)
   becomes quarantined for `quarantine` in the same transaction, as when a tenant releases it.
   Deleting the numbers first stops new calls (and new history) from arriving.
2. `history`: `HistoryStore.delete_tenant` (calls, activities, daily stats).
3. `blobs`: `{tid}/` in the containers `prompts`, `voicemail`, `recordings`, `reports`.
4. `finish`: `idx/tenant/{tid}` is deleted and the progress becomes `done` in one transaction.

The claim that starts a cleanup is a transaction comparing the tenant document's revision (still
closed, still past retention) and `cleanup/{tid}` absent. Every step runs under a lease held in
the progress record (compare-and-swap on its revision), so two overlapping runs never work on one
tenant at once, and a run that crashed is resumed at its recorded step once the lease expires (a
run that fails a step releases its lease at once). The `done` record stays as proof of deletion.
Not reached: auth records named by token digests (refresh, verify, reset), which hold no index
and expire by themselves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.configdb import KV, AsyncConfigDBClient, Compare, ConfigDBUnavailable, Op
from shared.configdb_keys import (
    EmailIndexValue,
    email_index_key,
    inventory_key,
    number_index_key,
    parse_tenant_key,
    tenant_index_key,
    tenant_key,
    tenant_prefix,
)
from shared.directory.models.inventory import InventoryNumber, InventoryState
from shared.directory.models.tenant import Tenant, TenantStatus
from shared.directory.services.accounts import unverified_key
from shared.directory.services.inventory import DEFAULT_QUARANTINE
from shared.directory.services.tenant_scan import TenantEntry, iter_tenants
from shared.errors import Unavailable
from shared.lifecycle.ports import BlobEraser, HistoryEraser
from shared.ports import Clock
from shared.queue_work import Tally, reason_of
from shared.values import UtcDatetime, format_utc

RETENTION = dt.timedelta(days=30)
LEASE = dt.timedelta(minutes=15)
BATCH = 100
MAX_CONFIG_PASSES = 50
CLEANUP_PREFIX = "cleanup/"
BLOB_CONTAINERS: tuple[str, ...] = ("prompts", "voicemail", "recordings", "reports")
CLOSED = (TenantStatus.SUSPENDED, TenantStatus.CANCELLED)


class Step(enum.StrEnum):
    CONFIG = "config"
    HISTORY = "history"
    BLOBS = "blobs"
    FINISH = "finish"
    DONE = "done"


STEPS: tuple[Step, ...] = (Step.CONFIG, Step.HISTORY, Step.BLOBS, Step.FINISH, Step.DONE)


def cleanup_key(tenant_id: str) -> str:
    return f"{CLEANUP_PREFIX}{tenant_id}"


class CleanupProgress(BaseModel):
    """Value of `cleanup/{tid}`."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    step: Step
    status: str
    status_changed_at: UtcDatetime | None = None
    started_at: UtcDatetime
    updated_at: UtcDatetime
    lease_owner: str | None = None
    lease_until: UtcDatetime | None = None
    deleted: dict[str, int] = Field(default_factory=dict)
    attempts: int = 0
    last_error: str | None = None
    finished_at: UtcDatetime | None = None


# --------------------------------------------------------------------------- pure rules

Eligibility = Literal["clean", "retained", "stamp", "open"]


def eligibility(tenant: Tenant, now: dt.datetime, retention: dt.timedelta = RETENTION) -> Eligibility:
    if tenant.status not in CLOSED:
        return "open"
    if tenant.status_changed_at is None:
        return "stamp"
    return "clean" if now - tenant.status_changed_at >= retention else "retained"


def next_step(step: Step) -> Step:
    return STEPS[min(STEPS.index(step) + 1, len(STEPS) - 1)]


def lease_free(progress: CleanupProgress, now: dt.datetime) -> bool:
    return progress.lease_until is None or progress.lease_until <= now


def with_lease(
    progress: CleanupProgress, owner: str, now: dt.datetime, lease: dt.timedelta
) -> CleanupProgress:
    return progress.model_copy(update={"lease_owner": owner, "lease_until": now + lease, "updated_at": now})


def merge_counts(counts: dict[str, int], more: dict[str, int], prefix: str) -> dict[str, int]:
    out = dict(counts)
    for name, n in more.items():
        out[f"{prefix}.{name}"] = out.get(f"{prefix}.{name}", 0) + n
    return out


StepLog = Callable[[dict[str, Any]], None]


class LeaseLost(Exception):
    """Another run changed the progress record (took the lease over after it expired)."""


# --------------------------------------------------------------------------- the job


@dataclass
class TenantCleaner:
    db: AsyncConfigDBClient
    history: HistoryEraser
    blobs: BlobEraser
    clock: Clock
    run_id: str
    log_step: StepLog
    region: str | None = None
    retention: dt.timedelta = RETENTION
    lease: dt.timedelta = LEASE
    quarantine: dt.timedelta = DEFAULT_QUARANTINE

    async def run(self) -> Tally:
        tally = Tally()
        resumed: set[str] = set()
        async for kv in self._iter(CLEANUP_PREFIX):
            try:
                progress = CleanupProgress.model_validate(kv.value)
            except ValidationError:
                tally.fail("bad_progress_record")
                continue
            if progress.step is Step.DONE:
                continue
            resumed.add(progress.tenant_id)
            try:
                await self._work(progress, kv.revision, tally, resumed=True)
            except Unavailable as exc:
                tally.fail(f"unavailable:{reason_of(exc)[:60]}")
        async for entry in iter_tenants(self.db, self.region):
            if entry.tenant_id in resumed or entry.tenant is None:
                continue
            try:
                await self._consider(entry, tally)
            except Unavailable as exc:
                tally.fail(f"unavailable:{reason_of(exc)[:60]}")
        return tally

    async def _consider(self, entry: TenantEntry, tally: Tally) -> None:
        tenant = entry.tenant
        assert tenant is not None
        now = self.clock.now()
        verdict = eligibility(tenant, now, self.retention)
        if verdict == "open":
            return
        if verdict == "retained":
            tally.skip("retained")
            return
        if verdict == "stamp":
            data = tenant.model_dump(mode="json")
            data["status_changed_at"] = format_utc(now)
            ok, _ = await self._txn(
                [Compare(tenant_key(tenant.id), entry.revision)], [Op.put(tenant_key(tenant.id), data)]
            )
            tally.skip("retention_started" if ok else "contended")
            return
        progress = CleanupProgress(
            tenant_id=tenant.id,
            step=Step.CONFIG,
            status=tenant.status.value,
            status_changed_at=tenant.status_changed_at,
            started_at=now,
            updated_at=now,
        )
        progress = with_lease(progress, self.run_id, now, self.lease)
        ok, revision = await self._txn(
            [Compare(tenant_key(tenant.id), entry.revision), Compare(cleanup_key(tenant.id), 0)],
            [Op.put(cleanup_key(tenant.id), progress.model_dump(mode="json"))],
        )
        if not ok:
            tally.skip("contended")
            return
        self._log(progress, "claimed", resumed=False)
        await self._work(progress, revision, tally, resumed=False, leased=True)

    async def _work(
        self, progress: CleanupProgress, revision: int, tally: Tally, *, resumed: bool, leased: bool = False
    ) -> None:
        now = self.clock.now()
        if not leased:
            if not lease_free(progress, now):
                tally.skip("cleanup_in_flight")
                return
            progress = with_lease(progress, self.run_id, now, self.lease)
            progress.attempts += 1
            try:
                revision = await self._save(progress, revision)
            except LeaseLost:
                tally.skip("cleanup_in_flight")
                return
            self._log(progress, "resumed", attempts=progress.attempts)
        tid = progress.tenant_id
        try:
            while progress.step is not Step.DONE:
                step = progress.step
                started = time.perf_counter()
                counts = await self._do(step, tid, progress, revision)
                if step is Step.FINISH:
                    revision = counts.pop("_revision")
                    progress = self._advanced(progress, counts, step)
                else:
                    progress = self._advanced(progress, counts, step)
                    revision = await self._save(progress, revision)
                self._log(
                    progress,
                    "ok",
                    step=step,
                    deleted=counts,
                    ms=round((time.perf_counter() - started) * 1000),
                )
        except LeaseLost:
            self._log(progress, "lease_lost", step=progress.step)
            tally.skip("lease_lost")
            return
        except Exception as exc:
            reason = reason_of(exc)
            self._log(progress, "failed", step=progress.step, reason=reason)
            tally.fail(f"step_{progress.step.value}")
            failed = progress.model_copy(
                update={"lease_until": None, "lease_owner": None, "last_error": reason}
            )
            with contextlib.suppress(Exception):  # else the lease expires by itself
                await self._save(failed, revision)  # release the lease: the next run resumes here
            return
        tally.ok("resumed" if resumed else "cleaned")

    def _advanced(self, progress: CleanupProgress, counts: dict[str, int], step: Step) -> CleanupProgress:
        now = self.clock.now()
        update: dict[str, Any] = {
            "step": next_step(step),
            "deleted": merge_counts(progress.deleted, counts, step.value),
            "updated_at": now,
            "lease_until": now + self.lease,
            "last_error": None,
        }
        if update["step"] is Step.DONE:
            update.update(finished_at=now, lease_until=None, lease_owner=None)
        return progress.model_copy(update=update)

    async def _do(self, step: Step, tid: str, progress: CleanupProgress, revision: int) -> dict[str, int]:
        if step is Step.CONFIG:
            return await self._delete_config(tid)
        if step is Step.HISTORY:
            return dict(await self.history.delete_tenant(tid))
        if step is Step.BLOBS:
            return {c: await self.blobs.delete_prefix(c, f"{tid}/") for c in BLOB_CONTAINERS}
        if step is Step.FINISH:
            done = self._advanced(progress, {"tenant_index": 1}, step)
            ok, new_rev = await self._txn(
                [Compare(cleanup_key(tid), revision)],
                [Op.delete(tenant_index_key(tid)), Op.put(cleanup_key(tid), done.model_dump(mode="json"))],
            )
            if not ok:
                raise LeaseLost(tid)
            return {"tenant_index": 1, "_revision": new_rev}
        return {}

    async def _delete_config(self, tid: str) -> dict[str, int]:
        counts = {"keys": 0, "number_index": 0, "email_index": 0}
        for _ in range(MAX_CONFIG_PASSES):
            page = await self._list(tenant_prefix(tid))
            if not page:
                return counts
            compares: list[Compare] = []
            ops: list[Op] = []
            batch = {"keys": 0, "number_index": 0, "email_index": 0}
            for kv in page:
                compares.append(Compare(kv.key, kv.revision))
                ops.append(Op.delete(kv.key))
                batch["keys"] += 1
                index = await self._owned_index(tid, kv.key, kv.value)
                if index is not None:
                    name, key, rev, extra = index
                    compares.append(Compare(key, rev))
                    ops.append(Op.delete(key))
                    ops.extend(Op.delete(k) for k in extra)
                    batch[name] += 1
                    if name == "number_index":
                        await self._quarantine(tid, key.rsplit("/", 1)[1], compares, ops)
            ok, _ = await self._txn(compares, ops)
            if ok:  # else something changed under us: list again
                counts = {k: counts[k] + batch[k] for k in counts}
        raise RuntimeError(f"t/{tid}/ kept changing; gave up after {MAX_CONFIG_PASSES} passes")

    async def _owned_index(self, tid: str, key: str, value: Any) -> tuple[str, str, int, list[str]] | None:
        """The global index entry a document owns, if it still points at this tenant."""
        try:
            _, kind, rest = parse_tenant_key(key)
        except ValueError:
            return None
        if kind == "number":
            idx = await self._get(number_index_key(rest))
            if idx is not None and idx.value == tid:
                return "number_index", idx.key, idx.revision, []
        elif kind == "user" and "/" not in rest and isinstance(value, dict):
            email = value.get("email")
            if isinstance(email, str) and email:
                idx = await self._get(email_index_key(email))
                if idx is not None:
                    try:
                        owner = EmailIndexValue.model_validate(idx.value)
                    except ValidationError:
                        return None
                    if owner.tenant_id == tid and owner.user_id == rest:
                        return "email_index", idx.key, idx.revision, [unverified_key(rest)]
        return None

    async def _quarantine(self, tid: str, e164: str, compares: list[Compare], ops: list[Op]) -> None:
        """Quarantine the inventory entry of a number this tenant held (compared by revision)."""
        got = await self._get(inventory_key(e164))
        if got is None:
            return
        try:
            entry = InventoryNumber.model_validate(got.value)
        except ValidationError:
            return
        if entry.state is InventoryState.ASSIGNED and entry.tenant_id == tid:
            compares.append(Compare(got.key, got.revision))
            released = entry.quarantined(self.clock.now() + self.quarantine)
            ops.append(Op.put(got.key, released.model_dump(mode="json")))

    # ------------------------------------------------------------ ConfigDB helpers

    async def _save(self, progress: CleanupProgress, revision: int) -> int:
        ok, new_rev = await self._txn(
            [Compare(cleanup_key(progress.tenant_id), revision)],
            [Op.put(cleanup_key(progress.tenant_id), progress.model_dump(mode="json"))],
        )
        if not ok:
            raise LeaseLost(progress.tenant_id)
        return new_rev

    async def _iter(self, prefix: str) -> AsyncIterator[KV]:
        try:
            async for kv in self.db.iter_prefix(prefix, page_size=500):
                yield kv
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    async def _list(self, prefix: str) -> list[KV]:
        try:
            return list((await self.db.list(prefix, limit=BATCH)).items)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    async def _get(self, key: str) -> KV | None:
        try:
            return await self.db.get_or_none(key)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    async def _txn(self, compare: list[Compare], ops: list[Op]) -> tuple[bool, int]:
        try:
            result = await self.db.txn(compare, ops)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return result.succeeded, result.revision

    def _log(self, progress: CleanupProgress, outcome: str, **fields: Any) -> None:
        step = fields.pop("step", progress.step)
        self.log_step(
            {
                "event": "cleanup_step",
                "run_id": self.run_id,
                "tenant_id": progress.tenant_id,
                "step": step.value if isinstance(step, Step) else step,
                "outcome": outcome,
                **fields,
            }
        )
