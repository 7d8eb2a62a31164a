"""IVR menus of a tenant: the rules, over a DocumentRepo and a Clock.

Every method takes the caller's `Principal` and only builds keys under its tenant, so another
tenant's ids are simply absent (NotFoundError -> 404, never 403).

A change is checked by the pure functions of `shared.directory.services.ivr_validation` against the tenant's
snapshot (tenant, users, menus, numbers) loaded by `load_config`:
- a target that does not exist, a duplicate digit, a menu graph that can loop forever ->
  `ConfigRejected` (422) with one `ValidationIssue` (RFC 6901 pointer, code, message) each;
- deleting a menu (or, through `references_to_user`, a user) that a number, the tenant or
  another menu still points to -> `InUse` (422) naming every referrer.

Updates and deletes are conditional on the revision read (or the one sent in `If-Match`):
`PreconditionFailed` (412) when the menu changed in between.

Known limit: the snapshot is read, then the menu is written; a concurrent change to *another*
document (e.g. deleting the target user) between the two is not detected.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from shared.configdb_keys import kind_prefix, menu_key, prompt_prefix, tenant_key
from shared.directory.models.ivr import IvrMenu, IvrMenuCreate, IvrMenuUpdate
from shared.directory.models.number import Number
from shared.directory.models.prompt import Prompt
from shared.directory.models.quota import QuotaKind
from shared.directory.models.tenant import Tenant
from shared.directory.models.user import User
from shared.directory.services.access import existing_id, is_manager
from shared.directory.services.ivr_validation import (
    Reference,
    TenantConfig,
    ValidationIssue,
    references_to,
    validate_menu_change,
)
from shared.directory.services.quotas import QuotaGuard
from shared.documents import Versioned
from shared.errors import Forbidden, InvalidField, NotFoundError, PreconditionFailed
from shared.ports import Clock, DocumentRepo
from shared.security.tokens import Principal
from shared.values import new_ulid

# --------------------------------------------------------------------------- errors


class ConfigRejected(InvalidField):
    """422: the change would leave the tenant's configuration invalid. `issues` lists every
    problem with its JSON pointer into the request body.

    Its problem lists every issue in `errors` and, when something still points at the thing,
    the `references`."""

    def __init__(
        self,
        issues: list[ValidationIssue],
        references: list[Reference] | None = None,
        message: str | None = None,
    ) -> None:
        if not issues:
            raise ValueError("ConfigRejected needs at least one issue")
        first = issues[0]
        if message is None:
            more = len(issues) - 1
            message = first.message if not more else f"{first.message} (and {more} more)"
        super().__init__(first.pointer, message, 422)
        self.issues = issues
        self.references = references or []
        self.details["errors"] = [i.model_dump() for i in issues]
        if self.references:
            self.details["references"] = [r.model_dump() for r in self.references]


class InUse(ConfigRejected):
    """422: a menu or user cannot be deleted while something still points to it; `references`
    says who (the referring document's kind and id, and the pointer of the field inside it)."""

    def __init__(self, kind: Literal["menu", "user"], name: str, references: list[Reference]) -> None:
        code = f"{kind}_in_use"
        issues = [
            ValidationIssue(pointer="", code=code, message=f"{kind} {name} is still used by {r.where}")
            for r in references
        ]
        message = f"{kind} {name} is still used by " + "; ".join(r.where for r in references)
        super().__init__(issues, references, message)
        self.kind = kind


# --------------------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Snapshot:
    """A tenant's configuration with the revision of every menu and number (for ETags)."""

    config: TenantConfig
    menu_revisions: dict[str, int]
    number_revisions: dict[str, int]


async def load_snapshot(repo: DocumentRepo, tenant_id: str) -> Snapshot:
    """The tenant document, users, menus, numbers and prompts of `tenant_id` (five reads in parallel)."""
    tenant, users, menus, numbers, prompts = await asyncio.gather(
        repo.get(tenant_key(tenant_id), Tenant),
        repo.list(kind_prefix(tenant_id, "user"), User),
        repo.list(kind_prefix(tenant_id, "menu"), IvrMenu),
        repo.list(kind_prefix(tenant_id, "number"), Number),
        repo.list(prompt_prefix(tenant_id), Prompt),
    )
    config = TenantConfig.of(
        tenant=None if tenant is None else tenant.doc,
        users=[u.doc for u in users],
        menus=[m.doc for m in menus],
        numbers=[n.doc for n in numbers],
        prompts=[p.doc for p in prompts],
    )
    return Snapshot(
        config=config,
        menu_revisions={m.doc.id: m.revision for m in menus},
        number_revisions={n.doc.number: n.revision for n in numbers},
    )


async def load_config(repo: DocumentRepo, tenant_id: str) -> TenantConfig:
    return (await load_snapshot(repo, tenant_id)).config


async def references_to_user(repo: DocumentRepo, tenant_id: str, user_id: str) -> list[Reference]:
    """Everything in the tenant that points at user `user_id`: number entries, the tenant's
    open/closed entries and owner, and menu actions (transfer, voicemail). Empty when free."""
    return references_to("user", user_id, await load_config(repo, tenant_id))


async def ensure_user_unreferenced(
    repo: DocumentRepo, tenant_id: str, user_id: str, *, ignore_owner: bool = True
) -> None:
    """Raise `InUse` (422) when a number, the tenant's entries or a menu still points at the user.
    `ignore_owner` leaves the tenant's `owner_user_id` to the users service's own owner rules."""
    config = await load_config(repo, tenant_id)
    refs = [
        r
        for r in references_to("user", user_id, config)
        if not (ignore_owner and r.pointer == "/owner_user_id")
    ]
    if refs:
        user = config.users.get(user_id)
        raise InUse("user", f"'{user.name}'" if user is not None else user_id, refs)


def require_manager(who: Principal, what: str) -> None:
    if not is_manager(who):
        raise Forbidden(f"only owners and admins change {what}")


def check_revision(key: str, current: int, if_match: int | None) -> int:
    if if_match is not None and if_match != current:
        raise PreconditionFailed(key, current)
    return current


# --------------------------------------------------------------------------- service


@dataclass
class MenusService:
    repo: DocumentRepo
    clock: Clock
    quotas: QuotaGuard | None = None

    async def list(self, who: Principal) -> list[Versioned[IvrMenu]]:
        menus = await self.repo.list(kind_prefix(who.tenant_id, "menu"), IvrMenu)
        return sorted(menus, key=lambda m: (m.doc.name, m.doc.id))

    async def get(self, who: Principal, menu_id: str) -> Versioned[IvrMenu]:
        return await self.repo.require(self._key(who, menu_id), IvrMenu, "menu")

    async def create(self, who: Principal, body: IvrMenuCreate) -> Versioned[IvrMenu]:
        require_manager(who, "menus")
        if self.quotas is not None:
            await self.quotas.check(who.tenant_id, QuotaKind.MENUS)
        now = self.clock.now()
        menu_id = new_ulid(now)
        config = await load_config(self.repo, who.tenant_id)
        issues = validate_menu_change(config, body, menu_id)
        if issues:
            raise ConfigRejected(issues)
        menu = body.to_menu(id=menu_id, tenant_id=who.tenant_id, created_at=now)
        revision = await self.repo.create(menu_key(who.tenant_id, menu_id), menu)
        return Versioned(menu, revision)

    async def update(
        self, who: Principal, menu_id: str, patch: IvrMenuUpdate, if_match: int | None
    ) -> Versioned[IvrMenu]:
        key = self._key(who, menu_id)
        menu_id = key.rsplit("/", 1)[1]
        snap = await load_snapshot(self.repo, who.tenant_id)
        if menu_id not in snap.config.menus:
            raise NotFoundError("menu")
        require_manager(who, "menus")
        expected = check_revision(key, snap.menu_revisions[menu_id], if_match)
        issues = validate_menu_change(snap.config, patch, menu_id)
        if issues:
            raise ConfigRejected(issues)
        new = patch.apply_to(snap.config.menus[menu_id], updated_at=self.clock.now())
        revision = await self.repo.update(key, new, expected)
        return Versioned(new, revision)

    async def delete(self, who: Principal, menu_id: str, if_match: int | None) -> None:
        key = self._key(who, menu_id)
        menu_id = key.rsplit("/", 1)[1]
        snap = await load_snapshot(self.repo, who.tenant_id)
        menu = snap.config.menus.get(menu_id)
        if menu is None:
            raise NotFoundError("menu")
        require_manager(who, "menus")
        expected = check_revision(key, snap.menu_revisions[menu_id], if_match)
        refs = references_to("menu", menu_id, snap.config)
        if refs:
            raise InUse("menu", f"'{menu.name}'", refs)
        await self.repo.delete(key, expected)

    @staticmethod
    def _key(who: Principal, menu_id: str) -> str:
        return menu_key(who.tenant_id, existing_id(menu_id, "menu"))


__all__ = [
    "ConfigRejected",
    "InUse",
    "MenusService",
    "Snapshot",
    "check_revision",
    "ensure_user_unreferenced",
    "load_config",
    "load_snapshot",
    "references_to_user",
    "require_manager",
]
