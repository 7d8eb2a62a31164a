"""Click-to-call and live-call control for a signed-in user, over the `EdgeCallControl` port.

- `place`: ring the caller's own first forwarding number; when they answer, the edge dials the
  destination and bridges the two. No forwarding number: `NoPhoneToRing` (409).
- `live_calls`: the tenant's live calls; owners and admins see all, members their own.
- `hang_up`: a live call of the tenant (members: only their own); `LiveCallNotFound` (404) else.

Whatever the edge answers is mapped here: unreachable, a server error or a refusal other than
"no phone" becomes `CallServiceUnavailable` (503), logged with the tenant and user.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.calls.errors import CallRefused, CallServiceUnavailable, LiveCallNotFound, NoPhoneToRing
from shared.calls.models import ActiveCall
from shared.calls.ports import EdgeCallControl
from shared.directory.services.access import is_manager
from shared.directory.services.users import UsersService
from shared.errors import Unavailable
from shared.security.tokens import Principal

log = logging.getLogger("shared.calls")

_CALL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
T = TypeVar("T")


class ClickToCallService:
    def __init__(self, users: UsersService, edge: EdgeCallControl) -> None:
        self.users = users
        self.edge = edge

    async def place(self, who: Principal, destination: str) -> ActiveCall:
        me = await self.users.get(who, who.user_id)
        if not me.doc.forwarding_numbers:
            raise NoPhoneToRing()
        call = await self._ask(who, lambda: self.edge.click_to_call(who.tenant_id, who.user_id, destination))
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
