"""Accounts: sign-up, email verification, login, refresh-token rotation, logout and password reset.

Pure logic over ports: a `DocumentRepo` (ConfigDB), a `MessageBus` (the `email` queue, through the
outbox of `shared/outbox.py`) and a
`Clock`. Nothing here knows about HTTP; the API maps the errors below onto status codes.

Auth state lives in ConfigDB next to the tenant data, under a global `auth/` namespace:

    auth/verify/{sha256(token)}      TokenRecord     sign-up verification link, single use
    auth/reset/{sha256(token)}       TokenRecord     password-reset link, single use
    auth/unverified/{user_id}        {"tenant_id"}   present until the owner verifies the email
    auth/refresh/{sha256(token)}     RefreshRecord   one per issued refresh token
    auth/revoked/{family}            RevokedFamily   a whole refresh family is dead (logout, reuse)
    auth/email-change/{sha256(token)} EmailChangeRecord  a new address's link (email_change.py)
    auth/throttle/{scope}/{digest}   counter         fixed-window throttles (adapters/throttle_store.py)

Only digests of tokens are stored. A refresh token is rotated in one transaction that marks the old
record `rotated` and claims the new one; presenting a rotated token again is reuse, which revokes
the whole family (OAuth 2.0 Security BCP, "refresh token rotation"), except within
`refresh_grace` of the rotation (two tabs, or a response lost on the way): that reuse gets a new
token of the same family instead. Every refresh record carries the user's `auth_version` (`uv`)
at issue; a password change or reset bumps it, so all older refresh tokens stop working.
Expired records are deleted by the auth sweeper (`auth_sweep.py`).

Login, sign-up, verification-resend and password-reset requests are throttled per account (the
email address) and per client address (`shared/security/rate_limit.py`, counters shared in the
ConfigDB).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, Field

from shared import outbox
from shared.configdb_keys import (
    EmailIndexValue,
    TenantIndexValue,
    email_index_key,
    tenant_index_key,
    tenant_key,
    user_key,
)
from shared.directory.models.tenant import Tenant, TenantOut, TenantStatus
from shared.directory.models.user import Email, Password, Role, User, UserOut
from shared.directory.services import email_change
from shared.documents import IndexChanges
from shared.errors import (
    AuthFailed,
    ConflictError,
    DomainError,
    Forbidden,
    InvalidField,
    NotFoundError,
    PreconditionFailed,
    Throttled,
)
from shared.ports import Clock, DocumentRepo, MessageBus
from shared.security.passwords import hash_secret, verify_secret
from shared.security.rate_limit import Limit, MemoryCounterStore, Throttle
from shared.security.tokens import (
    Principal,
    SigningKeys,
    issue_access_token,
    new_refresh_token,
    refresh_digest,
)
from shared.values import DisplayName, InputModel, UtcDatetime, new_ulid

EMAIL_QUEUE = "email"

# --------------------------------------------------------------------------- errors


class WrongRegion(DomainError):
    """307: the request belongs to another region; `location` is the same route there."""

    status = 307
    error_id = "wrong-region"
    title = "Wrong region"

    def __init__(self, region: str, location: str) -> None:
        super().__init__(
            f"region {region!r} is served at {location}",
            details={"region": region, "location": location},
            headers={"Location": location},
        )
        self.region, self.location = region, location


# --------------------------------------------------------------------------- keys and records


def verify_token_key(digest: str) -> str:
    return f"auth/verify/{digest}"


def reset_token_key(digest: str) -> str:
    return f"auth/reset/{digest}"


def unverified_key(user_id: str) -> str:
    return f"auth/unverified/{user_id}"


def refresh_token_key(digest: str) -> str:
    return f"auth/refresh/{digest}"


def revoked_family_key(family: str) -> str:
    return f"auth/revoked/{family}"


class TokenRecord(BaseModel):
    tenant_id: str
    user_id: str
    expires_at: UtcDatetime


class RefreshRecord(BaseModel):
    tenant_id: str
    user_id: str
    family: str
    expires_at: UtcDatetime
    rotated: bool = False
    rotated_at: UtcDatetime | None = None
    uv: int = 0
    """The user's `auth_version` when issued: a later password change or reset voids the token."""


class RevokedFamily(BaseModel):
    revoked_at: UtcDatetime
    reason: str


# --------------------------------------------------------------------------- API shapes

_REGION = Field(default=None, min_length=1, max_length=32, examples=["local"])


class SignupIn(InputModel):
    company: DisplayName
    name: DisplayName
    email: Email
    password: Password
    region: str | None = _REGION
    marketing_consent: bool = False


class SignupOut(BaseModel):
    tenant: TenantOut
    user: UserOut
    verification_required: bool = True


class VerifyResendIn(InputModel):
    email: Email


class TokenIn(InputModel):
    token: str = Field(min_length=1, max_length=512)


class LoginIn(InputModel):
    email: Email
    password: str = Field(min_length=1, max_length=256)


class RefreshIn(InputModel):
    refresh_token: str = Field(min_length=1, max_length=512)


class PasswordResetIn(InputModel):
    email: Email


class PasswordResetConfirmIn(InputModel):
    token: str = Field(min_length=1, max_length=512)
    password: Password


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


class VerifiedOut(BaseModel):
    tenant_id: str
    user_id: str
    email_verified: bool = True
    email: str | None = None
    """Set when the link confirmed a new email address: the account's address from now on."""


# --------------------------------------------------------------------------- service


@dataclass(frozen=True)
class AccountsConfig:
    region: str
    region_base_urls: dict[str, str]
    public_base_url: str
    keys: SigningKeys
    access_ttl: dt.timedelta = dt.timedelta(minutes=15)
    refresh_ttl: dt.timedelta = dt.timedelta(days=30)
    verify_ttl: dt.timedelta = dt.timedelta(hours=48)
    reset_ttl: dt.timedelta = dt.timedelta(hours=1)
    refresh_grace: dt.timedelta = dt.timedelta(seconds=20)
    trial: dt.timedelta = dt.timedelta(days=14)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_secret("timing-equaliser-for-unknown-accounts")


async def hash_in_thread(secret: str) -> str:
    """argon2 costs tens of milliseconds of CPU: keep it off the event loop."""
    return await asyncio.to_thread(hash_secret, secret)


async def verify_in_thread(stored: str, secret: str) -> bool:
    return await asyncio.to_thread(verify_secret, stored, secret)


@dataclass
class AccountsService:
    repo: DocumentRepo
    bus: MessageBus
    clock: Clock
    config: AccountsConfig
    throttle: Throttle = field(default_factory=lambda: Throttle(MemoryCounterStore()))

    @property
    def _outbox(self) -> outbox.OutboxRelay:
        """Emails a write triggers are claimed in its transaction under `jobs/outbox/` and relayed
        from there (shared/outbox.py): a bus outage delays them, never loses them."""
        return outbox.OutboxRelay(self.repo, self.bus)

    # ---------------------------------------------------------------- sign-up

    async def signup(self, req: SignupIn, client_address: str = "unknown") -> SignupOut:
        cfg = self.config
        limits = self.throttle.limits
        await self._throttled(
            [(limits.signup_account, req.email), (limits.signup_address, client_address)], "sign-ups"
        )
        region = req.region or cfg.region
        if region != cfg.region:
            base = cfg.region_base_urls.get(region)
            if base is None:
                known = ", ".join(sorted(cfg.region_base_urls))
                raise InvalidField("/region", f"unknown region {region!r}; known regions: {known}")
            raise WrongRegion(region, f"{base}/v1/signup")
        now = self.clock.now()
        tenant_id, user_id = new_ulid(now), new_ulid(now)
        tenant = Tenant(
            id=tenant_id,
            name=req.company,
            status=TenantStatus.TRIAL,
            trial_ends_at=now + cfg.trial,
            created_at=now,
            region=region,
            owner_user_id=user_id,
        )
        user = User(
            id=user_id,
            tenant_id=tenant_id,
            name=req.name,
            email=req.email,
            role=Role.OWNER,
            password_hash=await hash_in_thread(req.password),
            marketing_consent=req.marketing_consent,
            created_at=now,
        )
        token, digest = new_refresh_token()
        record = TokenRecord(tenant_id=tenant_id, user_id=user_id, expires_at=now + cfg.verify_ttl)
        email_key = email_index_key(user.email)
        mail_key, mail = self._verify_mail(user, tenant.name, token, digest, now)
        claims: dict[str, Any] = {
            email_key: EmailIndexValue(tenant_id=tenant_id, user_id=user_id).model_dump(),
            tenant_index_key(tenant_id): TenantIndexValue(region=region).model_dump(),
            user_key(tenant_id, user_id): user.model_dump(mode="json"),
            verify_token_key(digest): record.model_dump(mode="json"),
            unverified_key(user_id): {"tenant_id": tenant_id},
            mail_key: mail,
        }
        try:
            await self.repo.create(tenant_key(tenant_id), tenant, IndexChanges(claim=claims))
        except ConflictError as exc:
            if exc.key == email_key:
                raise ConflictError(exc.key, "an account with this email address already exists") from exc
            raise
        await self._outbox.deliver_now(mail_key, tenant_id)
        return SignupOut(tenant=TenantOut.model_validate(tenant.model_dump()), user=user.to_out())

    async def resend_verification(self, email: str, client_address: str = "unknown") -> None:
        """Mails a new sign-up link when the account exists and is not verified yet; says nothing
        either way (Throttled when the address or the client asked too often)."""
        limits = self.throttle.limits
        await self._throttled(
            [(limits.resend_account, email), (limits.resend_address, client_address)], "verification emails"
        )
        user = await self._user_by_email(email)
        if user is None or await self.repo.raw(unverified_key(user.id)) is None:
            return
        tenant = await self.repo.get(tenant_key(user.tenant_id), Tenant)
        if tenant is None:
            return
        now = self.clock.now()
        token, digest = new_refresh_token()
        expires = now + self.config.verify_ttl
        record = TokenRecord(tenant_id=user.tenant_id, user_id=user.id, expires_at=expires)
        mail_key, mail = self._verify_mail(user, tenant.doc.name, token, digest, now)
        await self.repo.create(verify_token_key(digest), record, IndexChanges(claim={mail_key: mail}))
        await self._outbox.deliver_now(mail_key, user.tenant_id)

    def _verify_mail(
        self, user: User, company: str, token: str, digest: str, now: dt.datetime
    ) -> tuple[str, dict[str, Any]]:
        """The outbox entry (key, value) of a sign-up verification email."""
        cfg = self.config
        link = f"{cfg.public_base_url}/verify?token={token}"
        hours = int(cfg.verify_ttl.total_seconds()) // 3600
        return outbox.entry(
            EMAIL_QUEUE,
            {
                "kind": "verify",
                "to": user.email,
                "subject": "Confirm your email address",
                "text": f"Hello {user.name},\n\nconfirm your email address to start your trial of "
                f"{company}:\n\n{link}\n\nThe link expires in {hours} hours.\n",
                "html": f'<p>Hello {_html(user.name)},</p><p><a href="{link}">Confirm your email address</a> '
                f"to start your trial of {_html(company)}.</p>",
                "tenant_id": user.tenant_id,
                "user_id": user.id,
            },
            f"verify-{digest[:32]}",
            tenant_id=user.tenant_id,
            now=now,
        )

    async def verify_email(self, token: str) -> VerifiedOut:
        key = verify_token_key(refresh_digest(token))
        got = await self.repo.get(key, TokenRecord)
        if got is None:
            changed = await email_change.confirm(self.repo, self.clock, token)
            if changed is not None:
                return VerifiedOut(tenant_id=changed.tenant_id, user_id=changed.id, email=changed.email)
        if got is None or got.doc.expires_at <= self.clock.now():
            raise InvalidField("/token", "the verification link is invalid or has expired", status=400)
        # a concurrent second click may win: same outcome
        with contextlib.suppress(PreconditionFailed, NotFoundError):
            await self.repo.delete(key, got.revision, release=[unverified_key(got.doc.user_id)])
        return VerifiedOut(tenant_id=got.doc.tenant_id, user_id=got.doc.user_id)

    # ---------------------------------------------------------------- login and tokens

    async def login(self, req: LoginIn, client_address: str) -> TokenPair:
        limits = self.throttle.limits
        checks = [(limits.login_account, req.email), (limits.login_address, client_address)]
        now_s = self.clock.now().timestamp()
        wait = await self.throttle.retry_after(checks, now_s)
        if wait > 0:
            raise Throttled(wait)
        user = await self._user_by_email(req.email)
        stored = user.password_hash if user and user.password_hash else _dummy_hash()
        ok = await verify_in_thread(stored, req.password)
        if user is None or not user.password_hash or not ok:
            await self.throttle.hit(checks, now_s)
            raise AuthFailed("wrong email or password")
        if await self.repo.raw(unverified_key(user.id)) is not None:
            raise Forbidden(
                "this email address is not verified yet: follow the link in the verification email"
            )
        await self.throttle.reset(limits.login_account, req.email)
        return await self._issue(user, family=new_ulid(self.clock.now()))

    async def refresh(self, refresh_token: str) -> TokenPair:
        key = refresh_token_key(refresh_digest(refresh_token))
        got = await self.repo.get(key, RefreshRecord)
        if got is None:
            raise AuthFailed("the refresh token is not valid")
        rec = got.doc
        if await self.repo.raw(revoked_family_key(rec.family)) is not None:
            raise AuthFailed("the refresh token has been revoked")
        if rec.expires_at <= self.clock.now():
            raise AuthFailed("the refresh token has expired")
        if rec.rotated and not self._in_grace(rec):
            await self._revoke(rec.family, "reuse")
            raise AuthFailed("the refresh token was already used; the session has been revoked")
        user = await self.repo.get(user_key(rec.tenant_id, rec.user_id), User)
        if user is None:
            await self._revoke(rec.family, "user deleted")
            raise AuthFailed("the account no longer exists")
        if rec.uv != user.doc.auth_version:
            await self._revoke(rec.family, "password or role changed")
            raise AuthFailed("the password or role changed since this session began; log in again")
        if rec.rotated:  # reused within the grace: a new token of the same family, no revocation
            return await self._issue(user.doc, rec.family)
        new_token, new_digest = new_refresh_token()
        new_rec = self._refresh_record(user.doc, rec.family)
        try:
            await self.repo.update(
                key,
                rec.model_copy(update={"rotated": True, "rotated_at": self.clock.now()}),
                got.revision,
                IndexChanges(claim={refresh_token_key(new_digest): new_rec.model_dump(mode="json")}),
            )
        except (PreconditionFailed, ConflictError):  # rotated concurrently: the same rules again
            return await self.refresh(refresh_token)
        return self._pair(user.doc, new_token)

    def _in_grace(self, rec: RefreshRecord) -> bool:
        rotated_at = rec.rotated_at
        return rotated_at is not None and self.clock.now() - rotated_at <= self.config.refresh_grace

    async def logout(self, refresh_token: str) -> None:
        """Revokes the token's family. Unknown tokens are ignored (logout is idempotent)."""
        got = await self.repo.get(refresh_token_key(refresh_digest(refresh_token)), RefreshRecord)
        if got is not None:
            await self._revoke(got.doc.family, "logout")

    # ---------------------------------------------------------------- password reset

    async def request_password_reset(self, email: str, client_address: str = "unknown") -> None:
        """Queues a reset email when the account exists; says nothing either way (Throttled when
        the address or the client asked too often, whether the account exists or not)."""
        limits = self.throttle.limits
        await self._throttled(
            [(limits.reset_account, email), (limits.reset_address, client_address)], "password resets"
        )
        user = await self._user_by_email(email)
        if user is None:
            return
        now = self.clock.now()
        token, digest = new_refresh_token()
        record = TokenRecord(
            tenant_id=user.tenant_id, user_id=user.id, expires_at=now + self.config.reset_ttl
        )
        link = f"{self.config.public_base_url}/reset-password?token={token}"
        minutes = int(self.config.reset_ttl.total_seconds()) // 60
        mail_key, mail = outbox.entry(
            EMAIL_QUEUE,
            {
                "kind": "password-reset",
                "to": user.email,
                "subject": "Reset your password",
                "text": f"Hello {user.name},\n\nset a new password here:\n\n{link}\n\n"
                f"The link expires in {minutes} minutes. If you did not ask for it, ignore this email.\n",
                "html": f'<p>Hello {_html(user.name)},</p><p><a href="{link}">Set a new password</a>. '
                f"The link expires in {minutes} minutes.</p>",
                "tenant_id": user.tenant_id,
                "user_id": user.id,
            },
            f"reset-{digest[:32]}",
            tenant_id=user.tenant_id,
            now=now,
        )
        await self.repo.create(reset_token_key(digest), record, IndexChanges(claim={mail_key: mail}))
        await self._outbox.deliver_now(mail_key, user.tenant_id)

    async def confirm_password_reset(self, token: str, password: str) -> None:
        key = reset_token_key(refresh_digest(token))
        got = await self.repo.get(key, TokenRecord)
        if got is None or got.doc.expires_at <= self.clock.now():
            raise InvalidField("/token", "the reset link is invalid or has expired", status=400)
        ukey = user_key(got.doc.tenant_id, got.doc.user_id)
        user = await self.repo.get(ukey, User)
        if user is None:
            raise InvalidField("/token", "the account no longer exists", status=400)
        updated = user.doc.model_copy(
            update={
                "password_hash": await hash_in_thread(password),
                "updated_at": self.clock.now(),
                "auth_version": user.doc.auth_version + 1,  # every older token stops working
            }
        )
        # the link proved the mailbox, so it also verifies the email
        release = [key, unverified_key(user.doc.id)]
        await self.repo.update(ukey, updated, user.revision, IndexChanges(release=release))

    # ---------------------------------------------------------------- helpers

    async def _user_by_email(self, email: str) -> User | None:
        idx = await self.repo.get(email_index_key(email), EmailIndexValue)
        if idx is None:
            return None
        got = await self.repo.get(user_key(idx.doc.tenant_id, idx.doc.user_id), User)
        return None if got is None else got.doc

    def _refresh_record(self, user: User, family: str) -> RefreshRecord:
        return RefreshRecord(
            tenant_id=user.tenant_id,
            user_id=user.id,
            family=family,
            expires_at=self.clock.now() + self.config.refresh_ttl,
            uv=user.auth_version,
        )

    async def _issue(self, user: User, family: str) -> TokenPair:
        token, digest = new_refresh_token()
        await self.repo.create(refresh_token_key(digest), self._refresh_record(user, family))
        return self._pair(user, token)

    def _pair(self, user: User, refresh_token: str) -> TokenPair:
        cfg = self.config
        who = Principal(tenant_id=user.tenant_id, user_id=user.id, role=user.role.value, uv=user.auth_version)
        access = issue_access_token(cfg.keys, who, self.clock.now(), cfg.access_ttl)
        return TokenPair(
            access_token=access, refresh_token=refresh_token, expires_in=int(cfg.access_ttl.total_seconds())
        )

    async def _throttled(self, checks: list[tuple[Limit, str]], what: str) -> None:
        wait = await self.throttle.consume(checks, self.clock.now().timestamp())
        if wait > 0:
            raise Throttled(wait, f"too many {what} from this address or for this email; retry in {wait} s")

    async def _revoke(self, family: str, reason: str) -> None:
        with contextlib.suppress(ConflictError):  # already revoked
            await self.repo.create(
                revoked_family_key(family), RevokedFamily(revoked_at=self.clock.now(), reason=reason)
            )


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
