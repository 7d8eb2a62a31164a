"""Caller IDs a tenant brings (BYO): a number it may show on click-to-calls once someone at that
number proves they hold it.

- `start` (owners and admins): the number must be one the tenant's calls may ring (its outbound
  policy's countries; never premium-rate, shared-cost or satellite; not while the tenant is
  suspended or its trial has ended: the same refusals as click-to-call). A 6-digit code is
  drawn, only its salted SHA-256 digest is stored (`t/{tid}/callerid/{id}`, status `pending`,
  good for `CODE_TTL`), and the edge calls the number and reads the code out
  (`EdgeCallControl.code_call`). Starting again for the same number draws a new code and calls
  again, at most once per `CALL_INTERVAL` (429 with Retry-After).
- `verify`: the code typed back; `MAX_ATTEMPTS` tries per code (`VerificationCodeWrong` with the
  attempts left), then, or after `CODE_TTL`, `VerificationCodeExpired` (start again).
- `allowed`: what a tenant's click-to-calls may show: its own numbers and its verified caller IDs.

Every call placed and every verification is logged with the tenant id (never the code).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from shared.calls.errors import (
    CallerIdExists,
    CallerIdNotAllowed,
    CallRefused,
    CallServiceUnavailable,
    TenantSuspended,
    TrialExpired,
    VerificationCodeExpired,
    VerificationCodeWrong,
)
from shared.calls.models import CallerId, CallerIdOut, CallerIdStatus, OutboundPolicy
from shared.calls.ports import EdgeCallControl
from shared.calls.services.outbound_policy import check_number, effective_countries, home_country
from shared.configdb_keys import caller_id_key, caller_id_prefix, kind_prefix, outbound_policy_key, tenant_key
from shared.directory.models.number import Number
from shared.directory.models.tenant import Tenant, TenantStatus
from shared.directory.services.access import is_manager
from shared.documents import Versioned
from shared.errors import Forbidden, NotFoundError, Throttled, Unavailable
from shared.ports import Clock, DocumentRepo
from shared.security.tokens import Principal
from shared.values import is_id, new_ulid

log = logging.getLogger("shared.calls")

CODE_TTL = dt.timedelta(minutes=10)
MAX_ATTEMPTS = 5
CALL_INTERVAL = dt.timedelta(seconds=60)
MAX_CALLER_IDS = 20


def _digest(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def caller_id_out(doc: CallerId) -> CallerIdOut:
    return CallerIdOut(
        id=doc.id,
        number=doc.number,
        status=doc.status,
        code_expires_at=doc.code_expires_at if doc.status is CallerIdStatus.PENDING else None,
        attempts_left=max(0, MAX_ATTEMPTS - doc.attempts) if doc.status is CallerIdStatus.PENDING else 0,
        created_at=doc.created_at,
        verified_at=doc.verified_at,
    )


@dataclass
class CallerIdsService:
    repo: DocumentRepo
    edge: EdgeCallControl
    clock: Clock

    async def list(self, who: Principal) -> list[CallerId]:
        return [v.doc for v in await self.repo.list(caller_id_prefix(who.tenant_id), CallerId)]

    async def get(self, who: Principal, caller_id: str) -> CallerId:
        return (await self._read(who, caller_id)).doc

    async def start(self, who: Principal, number: str) -> CallerId:
        """Draw a code, store its digest and have the edge call `number` to read it out."""
        self._manager(who)
        own = await self._own_numbers(who.tenant_id)
        if number in own:
            raise CallerIdExists(number, "is one of your numbers; it is a caller ID already")
        await self._may_call(who.tenant_id, number, own)
        mine = await self.repo.list(caller_id_prefix(who.tenant_id), CallerId)
        existing = next((v for v in mine if v.doc.number == number), None)
        now = self.clock.now()
        if existing is None and len(mine) >= MAX_CALLER_IDS:
            raise Forbidden(f"an account has at most {MAX_CALLER_IDS} caller IDs; delete one first")
        if existing is not None and existing.doc.status is CallerIdStatus.VERIFIED:
            raise CallerIdExists(number, "is a verified caller ID already")
        if existing is not None and existing.doc.last_call_at is not None:
            wait = existing.doc.last_call_at + CALL_INTERVAL - now
            if wait > dt.timedelta(0):
                seconds = int(wait.total_seconds()) + 1
                raise Throttled(seconds, f"a code was called out to {number} just now; retry in {seconds} s")
        code = f"{secrets.randbelow(10**6):06d}"
        salt = secrets.token_hex(16)
        fields = {
            "code_salt": salt,
            "code_digest": _digest(salt, code),
            "code_expires_at": now + CODE_TTL,
            "attempts": 0,
            "last_call_at": now,
        }
        if existing is None:
            doc = CallerId(
                id=new_ulid(now),
                tenant_id=who.tenant_id,
                number=number,
                created_at=now,
                created_by=who.user_id,
                **fields,
            )
            await self.repo.create(caller_id_key(who.tenant_id, doc.id), doc)
        else:
            doc = existing.doc.model_copy(update=fields)
            await self.repo.update(caller_id_key(who.tenant_id, doc.id), doc, existing.revision)
        presented = min(own) if own else None
        try:
            call = await self.edge.code_call(who.tenant_id, number, code, presented)
        except (CallRefused, Unavailable) as exc:
            log.warning(
                "caller-id code call failed",
                extra={"event": "caller_id_call_failed", "tenant_id": who.tenant_id, "detail": str(exc)},
            )
            raise CallServiceUnavailable(str(exc)) from exc
        log.info(
            "caller-id code call placed",
            extra={
                "event": "caller_id_call_placed",
                "tenant_id": who.tenant_id,
                "user_id": who.user_id,
                "caller_id": doc.id,
                "call_id": call.call_id,
            },
        )
        return doc

    async def verify(self, who: Principal, caller_id: str, code: str) -> CallerId:
        self._manager(who)
        got = await self._read(who, caller_id)
        doc = got.doc
        if doc.status is CallerIdStatus.VERIFIED:
            return doc
        now = self.clock.now()
        if (
            doc.code_digest is None
            or doc.code_salt is None
            or doc.code_expires_at is None
            or doc.code_expires_at <= now
            or doc.attempts >= MAX_ATTEMPTS
        ):
            raise VerificationCodeExpired(
                "the code expired or was tried too often; start the verification again"
            )
        key = caller_id_key(who.tenant_id, doc.id)
        if not hmac.compare_digest(doc.code_digest, _digest(doc.code_salt, code)):
            tried = doc.model_copy(update={"attempts": doc.attempts + 1})
            await self.repo.update(key, tried, got.revision)
            log.info(
                "caller-id code wrong",
                extra={"event": "caller_id_code_wrong", "tenant_id": who.tenant_id, "caller_id": doc.id},
            )
            raise VerificationCodeWrong(MAX_ATTEMPTS - tried.attempts)
        verified = doc.model_copy(
            update={
                "status": CallerIdStatus.VERIFIED,
                "verified_at": now,
                "code_digest": None,
                "code_salt": None,
                "code_expires_at": None,
            }
        )
        await self.repo.update(key, verified, got.revision)
        log.info(
            "caller-id verified",
            extra={"event": "caller_id_verified", "tenant_id": who.tenant_id, "caller_id": doc.id},
        )
        return verified

    async def delete(self, who: Principal, caller_id: str) -> None:
        self._manager(who)
        got = await self._read(who, caller_id)
        await self.repo.delete(caller_id_key(who.tenant_id, got.doc.id), got.revision)

    async def allowed(self, tenant_id: str) -> set[str]:
        """The numbers the tenant's click-to-calls may show."""
        verified = {
            v.doc.number
            for v in await self.repo.list(caller_id_prefix(tenant_id), CallerId)
            if v.doc.status is CallerIdStatus.VERIFIED
        }
        return verified | await self._own_numbers(tenant_id)

    async def check(self, tenant_id: str, number: str) -> None:
        """`CallerIdNotAllowed` (422) unless the tenant may show `number`."""
        if number not in await self.allowed(tenant_id):
            raise CallerIdNotAllowed(number)

    async def _may_call(self, tenant_id: str, number: str, own: set[str]) -> None:
        """The click-to-call refusals that apply to a call the service places for the tenant."""
        tenant = (await self.repo.require(tenant_key(tenant_id), Tenant, "tenant")).doc
        if tenant.status in (TenantStatus.SUSPENDED, TenantStatus.CANCELLED):
            raise TenantSuspended()
        ends = tenant.trial_ends_at
        if tenant.status is TenantStatus.TRIAL and ends is not None and ends <= self.clock.now():
            raise TrialExpired()
        got = await self.repo.get(outbound_policy_key(tenant_id), OutboundPolicy)
        policy = got.doc if got is not None else OutboundPolicy()
        check_number(
            number, "destination", effective_countries(policy, home_country(sorted(own), tenant.locale))
        )

    async def _own_numbers(self, tenant_id: str) -> set[str]:
        return {v.doc.number for v in await self.repo.list(kind_prefix(tenant_id, "number"), Number)}

    async def _read(self, who: Principal, caller_id: str) -> Versioned[CallerId]:
        if not is_id(caller_id):
            raise NotFoundError("caller ID")
        return await self.repo.require(caller_id_key(who.tenant_id, caller_id), CallerId, "caller ID")

    @staticmethod
    def _manager(who: Principal) -> None:
        if not is_manager(who):
            raise Forbidden("only owners and admins manage caller IDs")
