"""Quota checks: a create that would take a tenant past its quota is refused with
`QuotaExceeded` (403 `quota-exceeded`, the kind, limit and current use in the problem).

The limits are the operator's override on the tenant document (`Tenant.quotas`) over the
defaults from settings. The count is read before the write, so two creates racing at the limit
may both pass: a quota bounds what a tenant can build up, it is not a reservation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from shared.configdb_keys import kind_prefix, prompt_prefix, tenant_key
from shared.directory.models.ivr import IvrMenu
from shared.directory.models.number import Number
from shared.directory.models.prompt import Prompt
from shared.directory.models.quota import QuotaKind, Quotas
from shared.directory.models.tenant import Tenant
from shared.directory.models.user import User
from shared.errors import DomainError
from shared.ports import DocumentRepo

_COUNTED: dict[QuotaKind, tuple[Callable[[str], str], type[BaseModel]]] = {
    QuotaKind.USERS: (lambda tid: kind_prefix(tid, "user"), User),
    QuotaKind.NUMBERS: (lambda tid: kind_prefix(tid, "number"), Number),
    QuotaKind.MENUS: (lambda tid: kind_prefix(tid, "menu"), IvrMenu),
    QuotaKind.PROMPTS: (prompt_prefix, Prompt),
}


class QuotaExceeded(DomainError):
    """403: the tenant has reached one of its quotas."""

    status = 403
    error_id = "quota-exceeded"
    title = "Quota exceeded"

    def __init__(self, kind: QuotaKind, limit: int, used: int, adding: int) -> None:
        what = "bytes of prompt audio" if kind is QuotaKind.MEDIA_BYTES else kind.value
        super().__init__(
            f"this account may have at most {limit} {what} and has {used}; "
            f"remove some or ask for a higher quota",
            details={"quota": kind.value, "limit": limit, "used": used, "requested": adding},
        )
        self.kind, self.limit, self.used = kind, limit, used


@dataclass
class QuotaGuard:
    repo: DocumentRepo
    defaults: Quotas

    async def limits(self, tenant_id: str) -> Quotas:
        got = await self.repo.get(tenant_key(tenant_id), Tenant)
        override = got.doc.quotas if got is not None else None
        return override.over(self.defaults) if override is not None else self.defaults

    async def used(self, tenant_id: str, kind: QuotaKind) -> int:
        if kind is QuotaKind.MEDIA_BYTES:
            prompts = await self.repo.list(prompt_prefix(tenant_id), Prompt)
            return sum(p.doc.size_bytes for p in prompts)
        prefix, model = _COUNTED[kind]
        return len(await self.repo.list(prefix(tenant_id), model))

    async def check(self, tenant_id: str, kind: QuotaKind, adding: int = 1) -> None:
        """Raise `QuotaExceeded` when `adding` more would pass the tenant's limit."""
        limit = (await self.limits(tenant_id)).limit(kind)
        if limit is None:
            return
        used = await self.used(tenant_id, kind)
        if used + adding > limit:
            raise QuotaExceeded(kind, limit, used, adding)
