"""Every tenant of this region, for the background jobs: the global index `idx/tenant/{tid}`
(written with the tenant at sign-up) names them; each tenant document is then read with its
revision, so a job can update it with a compare-and-swap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import ValidationError

from shared.configdb import AsyncConfigDBClient, ConfigDBUnavailable
from shared.configdb_keys import TenantIndexValue, tenant_key
from shared.directory.models.tenant import Tenant
from shared.errors import Unavailable

TENANT_INDEX_PREFIX = "idx/tenant/"


@dataclass(frozen=True)
class TenantEntry:
    """One indexed tenant: its document and revision, or why there is none (`missing`, `invalid`)."""

    tenant_id: str
    tenant: Tenant | None
    revision: int
    problem: str | None = None


async def iter_tenants(db: AsyncConfigDBClient, region: str | None = None) -> AsyncIterator[TenantEntry]:
    """Tenants listed in `idx/tenant/` (of `region`, when given), in id order."""
    try:
        async for kv in db.iter_prefix(TENANT_INDEX_PREFIX, page_size=500):
            tid = kv.key[len(TENANT_INDEX_PREFIX) :]
            if region is not None:
                try:
                    if TenantIndexValue.model_validate(kv.value).region != region:
                        continue
                except ValidationError:
                    pass
            yield await read_tenant(db, tid)
    except ConfigDBUnavailable as exc:
        raise Unavailable(str(exc)) from exc


async def read_tenant(db: AsyncConfigDBClient, tenant_id: str) -> TenantEntry:
    try:
        got = await db.get_or_none(tenant_key(tenant_id))
    except ConfigDBUnavailable as exc:
        raise Unavailable(str(exc)) from exc
    except ValueError:
        return TenantEntry(tenant_id, None, 0, "invalid")
    if got is None:
        return TenantEntry(tenant_id, None, 0, "missing")
    try:
        return TenantEntry(tenant_id, Tenant.model_validate(got.value), got.revision)
    except ValidationError:
        return TenantEntry(tenant_id, None, got.revision, "invalid")
