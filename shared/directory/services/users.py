"""Tenant settings, users and devices: the rules, over a DocumentRepo and a Clock.

Every method takes the caller's `Principal` and only ever builds keys under the principal's
tenant, so another tenant's ids are simply absent (NotFoundError -> 404, never 403).

Rules:
- any user of the tenant may read the tenant and its users;
- owners and admins change the tenant and other users; members change only themselves, and never
  a role; only an owner grants, removes or edits the owner role, and only an owner changes an
  owner's password or email or deletes an owner (admins may still edit an owner's other details);
- a user changing their own password or email sends `current_password`; nobody sets another
  user's password (`PasswordSetByUser`): `password_reset_target` names whom a manager may send a
  reset link instead;
- a new email address is only pending until the link sent to it is followed (`email_change.py`);
- a role or password change bumps `auth_version`, which ends the user's older access and refresh
  tokens;
- the last owner cannot be deleted or demoted (ConflictError -> 409);
- an extension is unique in the tenant (`t/{tid}/idx/ext/{ext}`), an email globally
  (`idx/email/{email}`); both claims are written in the user's transaction;
- voicemail PINs and passwords are stored as argon2 hashes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared import outbox
from shared.calls.services.outbound_policy import refuse_blocked_forwarding
from shared.configdb_keys import (
    EmailIndexValue,
    device_key,
    email_index_key,
    extension_index_key,
    kind_prefix,
    tenant_key,
    user_devices_prefix,
    user_key,
)
from shared.directory.errors import CurrentPasswordRequired, PasswordSetByUser
from shared.directory.models.device import Device, DeviceCreate
from shared.directory.models.quota import QuotaKind
from shared.directory.models.tenant import Tenant, TenantPatch
from shared.directory.models.user import Role, User, UserCreate, UserUpdate
from shared.directory.services import email_change
from shared.directory.services.access import existing_id, is_manager
from shared.directory.services.accounts import hash_in_thread, unverified_key, verify_in_thread
from shared.directory.services.menus import ensure_user_unreferenced
from shared.directory.services.quotas import QuotaGuard
from shared.documents import IndexChanges, Versioned
from shared.errors import ConflictError, Forbidden, PreconditionFailed, Throttled
from shared.ports import Clock, DocumentRepo, MessageBus
from shared.security.rate_limit import Throttle
from shared.security.tokens import Principal
from shared.values import apply_patch, new_ulid


def field_of_conflict(key: str) -> str:
    """The request field a failed uniqueness claim stands for."""
    if key.startswith("idx/email/"):
        return "email"
    if "/idx/ext/" in key:
        return "extension"
    return "id"


def _check_revision(current: int, if_match: int | None, key: str) -> int:
    if if_match is not None and if_match != current:
        raise PreconditionFailed(key, current)
    return current


class TenantService:
    def __init__(self, repo: DocumentRepo, clock: Clock) -> None:
        self.repo, self.clock = repo, clock

    async def get(self, who: Principal) -> Versioned[Tenant]:
        return await self.repo.require(tenant_key(who.tenant_id), Tenant, "tenant")

    async def update(self, who: Principal, patch: TenantPatch, if_match: int | None) -> Versioned[Tenant]:
        if not is_manager(who):
            raise Forbidden("only owners and admins change the tenant's settings")
        key = tenant_key(who.tenant_id)
        cur = await self.repo.require(key, Tenant, "tenant")
        expected = _check_revision(cur.revision, if_match, key)
        new = apply_patch(cur.doc, patch)
        revision = await self.repo.update(key, new, expected)
        return Versioned(new, revision)


@dataclass
class UsersService:
    repo: DocumentRepo
    clock: Clock
    bus: MessageBus | None = None
    """Where the new-address verification email goes (required to change an email)."""
    public_base_url: str = ""
    quotas: QuotaGuard | None = None
    throttle: Throttle | None = None
    """A wrong current_password counts as a failed login of the account (the same lockout)."""

    async def list(self, who: Principal) -> list[Versioned[User]]:
        return await self.repo.list(kind_prefix(who.tenant_id, "user"), User)

    async def get(self, who: Principal, user_id: str) -> Versioned[User]:
        return await self.repo.require(self._key(who, user_id), User, "user")

    async def create(self, who: Principal, body: UserCreate) -> Versioned[User]:
        if not is_manager(who):
            raise Forbidden("only owners and admins add users")
        if body.role is Role.OWNER and who.role != Role.OWNER.value:
            raise Forbidden("only an owner can make another user an owner")
        refuse_blocked_forwarding(body.forwarding_numbers)
        if self.quotas is not None:
            await self.quotas.check(who.tenant_id, QuotaKind.USERS)
        now = self.clock.now()
        user = body.to_user(
            id=new_ulid(now),
            tenant_id=who.tenant_id,
            created_at=now,
            voicemail_pin_hash=await hash_in_thread(body.voicemail_pin) if body.voicemail_pin else None,
            password_hash=await hash_in_thread(body.password) if body.password else None,
        )
        claims: dict[str, Any] = {
            email_index_key(user.email): EmailIndexValue(
                tenant_id=who.tenant_id, user_id=user.id
            ).model_dump()
        }
        if user.extension is not None:
            claims[extension_index_key(who.tenant_id, user.extension)] = user.id
        revision = await self._write(
            self.repo.create(user_key(who.tenant_id, user.id), user, IndexChanges(claim=claims))
        )
        return Versioned(user, revision)

    async def update(
        self, who: Principal, user_id: str, patch: UserUpdate, if_match: int | None
    ) -> Versioned[User]:
        key = self._key(who, user_id)
        cur = await self.repo.require(key, User, "user")
        changes = patch.changes()
        changes.pop("current_password", None)
        new_email = changes.get("email")
        drop_pending = new_email == cur.doc.email and cur.doc.pending_email is not None
        if new_email == cur.doc.email or new_email == cur.doc.pending_email:
            new_email = None  # unchanged (a pending change is dropped), or already waiting for its link
        self._may_edit(who, cur.doc, changes.get("role"))
        refuse_blocked_forwarding(changes.get("forwarding_numbers") or [])
        if (
            cur.doc.role is Role.OWNER
            and who.role != Role.OWNER.value
            and ("password" in changes or new_email is not None)
        ):
            raise Forbidden("only an owner changes an owner's password or email")
        if "password" in changes and who.user_id != cur.doc.id:
            raise PasswordSetByUser(cur.doc.id)
        if who.user_id == cur.doc.id and ("password" in changes or new_email is not None):
            await self._check_current_password(cur.doc, patch.current_password)
        expected = _check_revision(cur.revision, if_match, key)
        if cur.doc.role is Role.OWNER and changes.get("role", Role.OWNER.value) != Role.OWNER.value:
            await self._not_last_owner(who, cur.doc, "demoted")
        new = apply_patch(cur.doc, patch, skip=UserUpdate.SECRET_FIELDS | {"email"})
        extra: dict[str, Any] = {"updated_at": self.clock.now()}
        if patch.voicemail_pin is not None:
            extra["voicemail_pin_hash"] = await hash_in_thread(patch.voicemail_pin)
        if patch.password is not None:
            extra["password_hash"] = await hash_in_thread(patch.password)
        if patch.password is not None or new.role is not cur.doc.role:
            extra["auth_version"] = cur.doc.auth_version + 1  # older tokens stop working
        if drop_pending:
            extra["pending_email"] = None
        new = new.model_copy(update=extra)
        index = IndexChanges()
        pending: email_change.PendingChange | None = None
        mails: dict[str, Any] = {}
        if new_email is not None:
            if self.bus is None:
                raise RuntimeError("UsersService needs a MessageBus to change an email address")
            if await self.repo.raw(email_index_key(new_email)) is not None:
                raise ConflictError(email_index_key(new_email), "this email address is already in use")
            pending = email_change.start(new, new_email, self.clock.now())
            new = pending.user
            index.claim[pending.record_key] = pending.record.model_dump(mode="json")
            mails = email_change.outbox_entries(
                pending, cur.doc.email, self.public_base_url, self.clock.now()
            )
            index.claim.update(mails)
        if new.extension != cur.doc.extension:
            if new.extension is not None:
                index.claim[extension_index_key(who.tenant_id, new.extension)] = user_id
            if cur.doc.extension is not None:
                index.release.append(extension_index_key(who.tenant_id, cur.doc.extension))
        revision = await self._write(self.repo.update(key, new, expected, index))
        if pending is not None and self.bus is not None:
            relay = outbox.OutboxRelay(self.repo, self.bus)
            for mail_key in mails:
                await relay.deliver_now(mail_key, who.tenant_id)
        return Versioned(new, revision)

    async def password_reset_target(self, who: Principal, user_id: str) -> User:
        """The user a manager may send a password-reset link to (not an owner, unless by an owner)."""
        cur = await self.repo.require(self._key(who, user_id), User, "user")
        if not is_manager(who) and who.user_id != cur.doc.id:
            raise Forbidden("only owners and admins send reset links to other users")
        if cur.doc.role is Role.OWNER and who.role != Role.OWNER.value:
            raise Forbidden("only an owner sends an owner a reset link")
        return cur.doc

    async def delete(self, who: Principal, user_id: str, if_match: int | None) -> None:
        key = self._key(who, user_id)
        cur = await self.repo.require(key, User, "user")
        if not is_manager(who):
            raise Forbidden("only owners and admins remove users")
        if cur.doc.role is Role.OWNER:
            if who.role != Role.OWNER.value:
                raise Forbidden("only an owner can remove an owner")
            await self._not_last_owner(who, cur.doc, "deleted")
        expected = _check_revision(cur.revision, if_match, key)
        await ensure_user_unreferenced(self.repo, who.tenant_id, cur.doc.id)  # 422 naming who points at them
        release = [email_index_key(cur.doc.email), unverified_key(user_id)]
        if cur.doc.extension is not None:
            release.append(extension_index_key(who.tenant_id, cur.doc.extension))
        release += [device_key(who.tenant_id, user_id, d.doc.id) for d in await self._devices(who, user_id)]
        await self.repo.delete(key, expected, release=release)

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _key(who: Principal, user_id: str) -> str:
        return user_key(who.tenant_id, existing_id(user_id, "user"))

    @staticmethod
    def _may_edit(who: Principal, target: User, new_role: str | None) -> None:
        if who.user_id != target.id and not is_manager(who):
            raise Forbidden("only owners and admins change other users")
        if new_role is None or new_role == target.role.value:
            return
        if not is_manager(who):
            raise Forbidden("members cannot change roles")
        if Role.OWNER.value in (new_role, target.role.value) and who.role != Role.OWNER.value:
            raise Forbidden("only an owner can grant or remove the owner role")

    async def _check_current_password(self, user: User, given: str | None) -> None:
        if given is None:
            raise CurrentPasswordRequired("send current_password to change your own password or email")
        checks = [] if self.throttle is None else [(self.throttle.limits.login_account, user.email)]
        now_s = self.clock.now().timestamp()
        if self.throttle is not None and (wait := await self.throttle.retry_after(checks, now_s)):
            raise Throttled(wait, f"too many wrong passwords for this account; retry in {wait} s")
        if not user.password_hash or not await verify_in_thread(user.password_hash, given):
            if self.throttle is not None:
                await self.throttle.hit(checks, now_s)
            raise CurrentPasswordRequired("current_password is not your current password")

    async def _not_last_owner(self, who: Principal, target: User, verb: str) -> None:
        owners = [u for u in await self.list(who) if u.doc.role is Role.OWNER]
        if len(owners) <= 1 and any(u.doc.id == target.id for u in owners):
            raise ConflictError(user_key(who.tenant_id, target.id), f"the last owner cannot be {verb}")

    async def _devices(self, who: Principal, user_id: str) -> list[Versioned[Device]]:
        return await self.repo.list(user_devices_prefix(who.tenant_id, user_id), Device)

    @staticmethod
    async def _write(pending: Any) -> int:
        try:
            return int(await pending)
        except ConflictError as exc:
            field = field_of_conflict(exc.key)
            if field == "email":
                raise ConflictError(exc.key, "this email address is already in use") from exc
            if field == "extension":
                raise ConflictError(exc.key, "this extension is already used in this tenant") from exc
            raise


@dataclass
class DevicesService:
    """Push tokens of the calling user (only ever their own devices)."""

    repo: DocumentRepo
    clock: Clock

    async def list(self, who: Principal) -> list[Versioned[Device]]:
        return await self.repo.list(user_devices_prefix(who.tenant_id, who.user_id), Device)

    async def register(self, who: Principal, body: DeviceCreate) -> tuple[Versioned[Device], bool]:
        """(device, created). Registering the same platform and token again returns the existing one."""
        for existing in await self.list(who):
            if existing.doc.platform == body.platform and existing.doc.token == body.token:
                return existing, False
        now = self.clock.now()
        device = Device(
            id=new_ulid(now), user_id=who.user_id, platform=body.platform, token=body.token, created_at=now
        )
        revision = await self.repo.create(device_key(who.tenant_id, who.user_id, device.id), device)
        return Versioned(device, revision), True

    async def delete(self, who: Principal, device_id: str) -> None:
        key = device_key(who.tenant_id, who.user_id, existing_id(device_id, "device"))
        cur = await self.repo.require(key, Device, "device")
        await self.repo.delete(key, cur.revision)
