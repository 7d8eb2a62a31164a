"""The operator's tenant commands (`python -m ops tenants ...`): list, show, suspend, resume,
extend a trial, and set one of a tenant's quotas (`set_quota`; None goes back to the default).

The status rules are the lifecycle's own (`trials.suspended`, `trials.resumed`,
`trials.trial_extended`); each change is one compare-and-swap on the tenant document's revision,
re-read and retried when a concurrent change wins. A suspended tenant's numbers answer with the
"service suspended" announcement, as after a trial ends; the tenant cleaner deletes a tenant that
stays suspended for its retention period.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from shared.configdb import AsyncConfigDBClient, Compare, ConfigDBUnavailable, Op
from shared.configdb_keys import kind_prefix, tenant_key
from shared.directory.models.quota import QuotaKind, Quotas
from shared.directory.models.tenant import Tenant, TenantStatus
from shared.directory.services.tenant_scan import iter_tenants, read_tenant
from shared.errors import DomainError, NotFoundError, Unavailable
from shared.lifecycle.services.trials import resumed, suspended, trial_extended
from shared.ports import Clock
from shared.values import is_id

ATTEMPTS = 3


class TenantChangeRefused(DomainError):
    """409: the tenant's state does not allow the change (e.g. resuming an ended trial)."""

    status = 409
    error_id = "tenant-change-refused"
    title = "Tenant change refused"


def _suspend(tenant: Tenant, now: dt.datetime) -> Tenant:
    if tenant.status not in (TenantStatus.TRIAL, TenantStatus.ACTIVE):
        raise ValueError(
            f"the tenant is {tenant.status.value}; only trial and active tenants can be suspended"
        )
    return suspended(tenant, now)


@dataclass
class TenantOperations:
    db: AsyncConfigDBClient
    clock: Clock

    async def list(
        self, status: TenantStatus | None = None, region: str | None = None
    ) -> AsyncIterator[Tenant]:
        async for entry in iter_tenants(self.db, region):
            if entry.tenant is not None and (status is None or entry.tenant.status is status):
                yield entry.tenant

    async def show(self, tenant_id: str) -> dict[str, Any]:
        """The tenant document, its numbers and how many users it has."""
        tenant, _ = await self._read(tenant_id)
        try:
            numbers = [
                kv.key.rsplit("/", 1)[1] async for kv in self.db.iter_prefix(kind_prefix(tenant_id, "number"))
            ]
            users = [kv async for kv in self.db.iter_prefix(kind_prefix(tenant_id, "user"))]
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return {"tenant": tenant.model_dump(mode="json"), "numbers": numbers, "users": len(users)}

    async def suspend(self, tenant_id: str) -> Tenant:
        return await self._change(tenant_id, _suspend)

    async def resume(self, tenant_id: str) -> Tenant:
        return await self._change(tenant_id, resumed)

    async def extend_trial(self, tenant_id: str, days: int) -> Tenant:
        return await self._change(tenant_id, lambda t, now: trial_extended(t, days, now))

    async def set_quota(self, tenant_id: str, kind: QuotaKind, value: int | None) -> Tenant:
        """This tenant's limit for `kind` (None: the default from settings again)."""

        def rule(tenant: Tenant, _now: dt.datetime) -> Tenant:
            current = tenant.quotas.model_dump() if tenant.quotas is not None else {}
            quotas = Quotas.model_validate({**current, kind.value: value})
            empty = all(v is None for v in quotas.model_dump().values())
            return tenant.model_copy(update={"quotas": None if empty else quotas})

        return await self._change(tenant_id, rule)

    async def _read(self, tenant_id: str) -> tuple[Tenant, int]:
        if not is_id(tenant_id):
            raise NotFoundError("tenant", f"no tenant {tenant_id!r}")
        entry = await read_tenant(self.db, tenant_id)
        if entry.tenant is None:
            raise NotFoundError("tenant", f"no tenant {tenant_id!r}")
        return entry.tenant, entry.revision

    async def _change(self, tenant_id: str, rule: Callable[[Tenant, dt.datetime], Tenant]) -> Tenant:
        for _ in range(ATTEMPTS):
            tenant, revision = await self._read(tenant_id)
            try:
                new = rule(tenant, self.clock.now())
            except ValueError as exc:
                raise TenantChangeRefused(str(exc)) from None
            key = tenant_key(tenant_id)
            try:
                result = await self.db.txn(
                    [Compare(key, revision)], [Op.put(key, new.model_dump(mode="json"))]
                )
            except ConfigDBUnavailable as exc:
                raise Unavailable(str(exc)) from exc
            if result.succeeded:
                return new
        raise TenantChangeRefused(f"tenant {tenant_id} kept changing; try again")
