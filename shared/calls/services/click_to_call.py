"""Click-to-call and live-call control for a signed-in user, over the `EdgeCallControl` port.

- `place`: ring the caller's own first forwarding number; when they answer, the edge dials the
  destination and bridges the two. No forwarding number: `NoPhoneToRing` (409). A suspended or
  cancelled tenant (`TenantSuspended`, 403) or an ended trial (`TrialExpired`, 403) places no
  call; then the outbound policy (`OutboundPolicyService.clear`) checks both numbers and the
  monthly spend cap, and the call goes to the edge with its limits (longest duration, concurrent
  calls, calls per minute), which the edge enforces (429 `too-many-concurrent-calls`,
  `call-rate-exceeded`, `edge-share-exhausted`). Every refusal is logged with the tenant.
  A `caller_id` asked for must be one of the tenant's numbers or a verified caller ID
  (`CallerIdsService.check`: 422 `caller-id-not-verified`); without one the edge shows the
  tenant's first number.
- `live_calls`: the tenant's live calls; owners and admins see all, members their own.
- `hang_up`: a live call of the tenant (members: only their own); `LiveCallNotFound` (404) else.

Whatever the edge answers is mapped here: a refusal it names (`reason`) becomes the matching
error; unreachable, a server error or any other refusal becomes `CallServiceUnavailable` (503),
logged with the tenant and user.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.calls.errors import (
    CallerIdNotAllowed,
    CallRateExceeded,
    CallRefused,
    CallServiceUnavailable,
    EdgeShareExhausted,
    LiveCallNotFound,
    NoPhoneToRing,
    TenantSuspended,
    TooManyConcurrentCalls,
    TrialExpired,
)
from shared.calls.models import ActiveCall, CallLimits
from shared.calls.ports import EdgeCallControl
from shared.calls.services.caller_ids import CallerIdsService
from shared.calls.services.outbound_policy import OutboundPolicyService
from shared.directory.models.tenant import Tenant, TenantStatus
from shared.directory.services.access import is_manager
from shared.directory.services.users import TenantService, UsersService
from shared.errors import DomainError, Unavailable
from shared.ports import Clock
from shared.security.tokens import Principal

log = logging.getLogger("shared.calls")

_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
T = TypeVar("T")


_EDGE_LIMITS: dict[str, type[TooManyConcurrentCalls | CallRateExceeded | EdgeShareExhausted]] = {
    "too-many-concurrent-calls": TooManyConcurrentCalls,
    "call-rate-exceeded": CallRateExceeded,
    "edge-share-exhausted": EdgeShareExhausted,
}


def refusal_for_status(tenant: Tenant, now: dt.datetime) -> DomainError | None:
    """Why a tenant in this state places no call, or None when it may."""
    if tenant.status in (TenantStatus.SUSPENDED, TenantStatus.CANCELLED):
        return TenantSuspended()
    if (
        tenant.status is TenantStatus.TRIAL
        and tenant.trial_ends_at is not None
        and tenant.trial_ends_at <= now
    ):
        return TrialExpired()
    return None


class ClickToCallService:
    def __init__(
        self,
        users: UsersService,
        edge: EdgeCallControl,
        tenants: TenantService,
        policy: OutboundPolicyService,
        clock: Clock,
        caller_ids: CallerIdsService | None = None,
    ) -> None:
        self.users = users
        self.edge = edge
        self.tenants = tenants
        self.policy = policy
        self.clock = clock
        self.caller_ids = caller_ids

    async def place(self, who: Principal, destination: str, caller_id: str | None = None) -> ActiveCall:
        try:
            tenant = (await self.tenants.get(who)).doc
            refused = refusal_for_status(tenant, self.clock.now())
            if refused is not None:
                raise refused
            me = await self.users.get(who, who.user_id)
            if not me.doc.forwarding_numbers:
                raise NoPhoneToRing()
            cleared = await self.policy.clear(tenant, me.doc.forwarding_numbers[0], destination)
            if caller_id is not None:
                if self.caller_ids is None:
                    raise CallerIdNotAllowed(caller_id)
                await self.caller_ids.check(who.tenant_id, caller_id)
        except DomainError as exc:
            log.warning(
                "click-to-call refused",
                extra={
                    "event": "click_to_call_refused",
                    "tenant_id": who.tenant_id,
                    "user_id": who.user_id,
                    "error_id": exc.error_id,
                    "status": exc.status,
                    "detail": exc.detail,
                },
            )
            raise
        limits = CallLimits(
            max_duration_s=cleared.max_duration_s,
            max_concurrent_calls=cleared.max_concurrent_calls,
            calls_per_minute=cleared.calls_per_minute,
        )
        call = await self._ask(
            who,
            lambda: self.edge.click_to_call(
                who.tenant_id, who.user_id, destination, limits=limits, caller_id=caller_id
            ),
        )
        log.info(
            "click-to-call placed",
            extra={
                "event": "click_to_call_placed",
                "tenant_id": who.tenant_id,
                "user_id": who.user_id,
                "call_id": call.call_id,
            },
        )
        return call

    async def live_calls(self, who: Principal) -> list[ActiveCall]:
        calls = await self._ask(who, lambda: self.edge.active_calls(who.tenant_id))
        calls = [c for c in calls if c.tenant_id == who.tenant_id]  # the edge scopes; say it twice
        return calls if is_manager(who) else [c for c in calls if c.user_id == who.user_id]

    async def hang_up(self, who: Principal, call_id: str) -> None:
        if not _CALL_ID.fullmatch(call_id):
            raise LiveCallNotFound(call_id)
        if not is_manager(who) and not any(c.call_id == call_id for c in await self.live_calls(who)):
            raise LiveCallNotFound(call_id)
        if not await self._ask(who, lambda: self.edge.hang_up(who.tenant_id, call_id)):
            raise LiveCallNotFound(call_id)
        log.info(
            "call hung up",
            extra={"event": "call_hangup_requested", "tenant_id": who.tenant_id, "call_id": call_id},
        )

    async def _ask(self, who: Principal, request: Callable[[], Awaitable[T]]) -> T:
        """One request to the edge, its failures mapped to what the user can act on."""
        try:
            return await request()
        except CallRefused as exc:
            log.warning(
                "call service refused",
                extra={
                    "event": "edge_refused",
                    "tenant_id": who.tenant_id,
                    "user_id": who.user_id,
                    "status": exc.status,
                    "detail": str(exc),
                },
            )
            if exc.status == 422:  # the edge has no phone for the user
                raise NoPhoneToRing() from exc
            if exc.reason == "tenant-suspended":
                raise TenantSuspended() from exc
            if exc.reason == "trial-expired":
                raise TrialExpired() from exc
            limit = _EDGE_LIMITS.get(exc.reason or "")
            if limit is not None:
                raise limit(exc.detail, exc.retry_after or 5) from exc
            # 404: the edge has not seen the user yet (config reaches it within a second), or another refusal
            raise CallServiceUnavailable(
                str(exc), detail="the call service cannot place this call right now; retry shortly"
            ) from exc
        except Unavailable as exc:
            log.warning(
                "call service unavailable",
                extra={"event": "edge_unavailable", "tenant_id": who.tenant_id, "detail": str(exc)},
            )
            raise CallServiceUnavailable(str(exc)) from exc
