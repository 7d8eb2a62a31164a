"""Each tenant's share of the edge's call legs (pure; the event loop's thread only).

One process carries at most `max_legs` legs; a tenant may hold at most `cap` of them
(`max_legs * share`, at least 2: one click-to-call), inbound caller legs, forwarded legs and
click-to-call legs alike. So one tenant's flood of click-to-calls or inbound calls reaches its own
cap and is refused there, and the rest of the edge still answers other tenants.

- Inbound: the caller leg is `take`n when the INVITE is routed to a tenant (refused: 486 Busy
  Here), and given back when the call ends.
- Forwarded legs: `leg(tenant, call)` before each dial (refused: the forward fails with 503).
- Click-to-call `reserve`s its two legs when accepted (refused: 429 `edge-share-exhausted`), so
  a burst of requests cannot all pass before their legs exist; its dials then draw on that
  reservation instead of counting again. `release_call` gives it back when the call ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Reservation:
    tenant_id: str
    total: int
    free: int


class TenantShares:
    def __init__(self, max_legs: int, share: float) -> None:
        if not 0 < share <= 1:
            raise ValueError("share must be in (0, 1]")
        self.max_legs = max_legs
        self.share = share
        self.cap = max(2, math.floor(max_legs * share))
        self._used: dict[str, int] = {}
        self._reserved: dict[str, _Reservation] = {}

    def used(self, tenant_id: str) -> int:
        return self._used.get(tenant_id, 0)

    def take(self, tenant_id: str, n: int = 1) -> bool:
        """Count `n` legs for the tenant if its share has room; False (nothing counted) if not."""
        used = self.used(tenant_id)
        if used + n > self.cap:
            return False
        self._used[tenant_id] = used + n
        return True

    def give_back(self, tenant_id: str, n: int = 1) -> None:
        left = self.used(tenant_id) - n
        if left > 0:
            self._used[tenant_id] = left
        else:
            self._used.pop(tenant_id, None)

    def reserve(self, tenant_id: str, call_id: str, n: int) -> bool:
        """Hold `n` legs for a call whose legs do not exist yet; False if the share has no room."""
        if call_id in self._reserved or not self.take(tenant_id, n):
            return False
        self._reserved[call_id] = _Reservation(tenant_id, n, n)
        return True

    def release_call(self, call_id: str) -> None:
        r = self._reserved.pop(call_id, None)
        if r is not None:
            self.give_back(r.tenant_id, r.total)

    def leg(self, tenant_id: str, call_id: str) -> Callable[[], None] | None:
        """Room for one more leg of `call_id`: from its reservation if it has one left, else from
        the tenant's share. Returns the (idempotent) give-back, or None when there is no room."""
        r = self._reserved.get(call_id)
        if r is not None and r.free > 0:
            r.free -= 1
            done = False

            def back_to_reservation() -> None:
                nonlocal done
                if not done:
                    done = True
                    r.free = min(r.total, r.free + 1)

            return back_to_reservation
        if not self.take(tenant_id):
            return None
        given = False

        def back_to_share() -> None:
            nonlocal given
            if not given:
                given = True
                self.give_back(tenant_id)

        return back_to_share

    def snapshot(self) -> dict[str, int]:
        """Legs counted per tenant (for /health)."""
        return dict(self._used)
