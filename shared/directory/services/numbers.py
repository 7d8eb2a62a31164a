"""Phone numbers (DIDs) of a tenant: the rules, over a DocumentRepo and a Clock.

- A number is stored at `t/{tid}/number/{e164}` and claimed globally at `idx/number/{e164}`
  (value: the tenant id) in the same ConfigDB transaction, so it belongs to one tenant at a time:
  a second claim, from any tenant, is `NumberTaken` (409). Deleting releases the claim in the
  deleting transaction.
- Only numbers of the operator's inventory (`idx/inventory/{e164}`, see `inventory.py`) of the
  tenant's region can be claimed, and only while free: `NumberNotInInventory` /
  `NumberInAnotherRegion` (422), `NumberQuarantined` or `NumberTaken` (409). The claim marks the
  inventory entry `assigned` in its transaction (compared on the entry's revision); deleting marks
  it `quarantined` for `quarantine` (30 days by default) in the deleting transaction.
- Its entry point (a menu or a user) must exist in the tenant: `ConfigRejected` (422) at
  `/entry/id` otherwise.
- Every key is built under the caller's tenant; another tenant's number is absent (404).
- Members read; owners and admins change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from shared.configdb_keys import kind_prefix, number_index_key, number_key
from shared.directory.models.inventory import InventoryNumber
from shared.directory.models.number import Number, NumberCreate, NumberUpdate
from shared.directory.models.quota import QuotaKind
from shared.directory.services.inventory import DEFAULT_QUARANTINE, InventoryService, claim_check
from shared.directory.services.ivr_validation import validate_entry_point
from shared.directory.services.menus import ConfigRejected, check_revision, load_snapshot, require_manager
from shared.directory.services.quotas import QuotaGuard
from shared.documents import Versioned
from shared.errors import ConflictError, NotFoundError
from shared.ports import Clock, DocumentRepo
from shared.security.tokens import Principal
from shared.values import is_e164


class NumberTaken(ConflictError):
    """409: the number is already assigned (to this tenant or another one; which is not said)."""

    def __init__(self, e164: str) -> None:
        super().__init__(
            number_index_key(e164), f"{e164} is already assigned to an account", pointer="/number"
        )
        self.number = e164


def existing_number(value: str) -> str:
    """A path number; anything that is not E.164 cannot exist (404)."""
    if not is_e164(value):
        raise NotFoundError("number")
    return value


@dataclass
class NumbersService:
    repo: DocumentRepo
    clock: Clock
    quarantine: dt.timedelta = DEFAULT_QUARANTINE
    quotas: QuotaGuard | None = None
    inventory: InventoryService = field(init=False)

    def __post_init__(self) -> None:
        self.inventory = InventoryService(self.repo, self.clock, self.quarantine)

    async def available(self, who: Principal, prefix: str | None, limit: int) -> list[InventoryNumber]:
        """Inventory numbers of the caller's tenant's region that can be claimed now."""
        snap = await load_snapshot(self.repo, who.tenant_id)
        if snap.config.tenant is None:
            raise NotFoundError("tenant")
        return await self.inventory.available(snap.config.tenant.region, prefix, limit)

    async def list(self, who: Principal) -> list[Versioned[Number]]:
        return await self.repo.list(kind_prefix(who.tenant_id, "number"), Number)

    async def get(self, who: Principal, e164: str) -> Versioned[Number]:
        return await self.repo.require(self._key(who, e164), Number, "number")

    async def create(self, who: Principal, body: NumberCreate) -> Versioned[Number]:
        require_manager(who, "numbers")
        snap = await load_snapshot(self.repo, who.tenant_id)
        if body.number in snap.config.numbers:
            raise NumberTaken(body.number)
        if self.quotas is not None:
            await self.quotas.check(who.tenant_id, QuotaKind.NUMBERS)
        issues = validate_entry_point(snap.config, body.entry, "/entry")
        if issues:
            raise ConfigRejected(issues)
        if snap.config.tenant is None:
            raise NotFoundError("tenant")
        try:
            stock = claim_check(
                await self.inventory.get(body.number),
                body.number,
                snap.config.tenant.region,
                self.clock.now(),
            )
        except ConflictError as exc:
            if exc.error_id == "conflict":
                raise NumberTaken(body.number) from exc
            raise
        number = Number(
            number=body.number,
            tenant_id=who.tenant_id,
            entry=body.entry,
            label=body.label,
            created_at=self.clock.now(),
        )
        claim = self.inventory.assignment(stock, who.tenant_id)
        claim.claim[number_index_key(body.number)] = who.tenant_id
        try:
            revision = await self.repo.create(number_key(who.tenant_id, body.number), number, claim)
        except ConflictError as exc:
            raise NumberTaken(body.number) from exc
        return Versioned(number, revision)

    async def update(
        self, who: Principal, e164: str, patch: NumberUpdate, if_match: int | None
    ) -> Versioned[Number]:
        key = self._key(who, e164)
        snap = await load_snapshot(self.repo, who.tenant_id)
        current = snap.config.numbers.get(e164)
        if current is None:
            raise NotFoundError("number")
        require_manager(who, "numbers")
        expected = check_revision(key, snap.number_revisions[e164], if_match)
        if "entry" in patch.model_fields_set:
            issues = validate_entry_point(snap.config, patch.entry, "/entry")
            if issues:
                raise ConfigRejected(issues)
        new = current.model_copy(update={k: getattr(patch, k) for k in patch.model_fields_set})
        new = Number.model_validate(new.model_dump())
        revision = await self.repo.update(key, new, expected)
        return Versioned(new, revision)

    async def delete(self, who: Principal, e164: str, if_match: int | None) -> None:
        key = self._key(who, e164)
        current = await self.repo.require(key, Number, "number")
        require_manager(who, "numbers")
        expected = check_revision(key, current.revision, if_match)
        stock = await self.inventory.get(e164)
        release = self.inventory.release(stock)
        await self.repo.delete(key, expected, release=[number_index_key(e164)], index=release)

    @staticmethod
    def _key(who: Principal, e164: str) -> str:
        return number_key(who.tenant_id, existing_number(e164))


__all__ = ["NumberTaken", "NumbersService", "existing_number"]
