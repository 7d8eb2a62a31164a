"""Throttles for the anonymous auth routes: fixed-window counters per (scope, subject), shared
through a `CounterStore` that every API instance reaches, with a bounded local cache.

A `Limit` allows `limit` events per fixed window of `window_s` seconds (windows start at multiples
of `window_s` since the epoch). The counters live in the store (the ConfigDB in production:
`shared/adapters/throttle_store.py`), so a lockout seen by one instance holds on all of them. Each
instance remembers, in an LRU of at most `cache_size` entries, which subjects it already saw
blocked and until when, so a subject hammering a locked route costs no store round trip.

Fixed windows keep one counter per subject; the price is that a burst straddling a window
boundary may see up to twice `limit` before the lockout (the limits below allow for it).

`AuthLimits` names the limits of login, sign-up, verification resend and password reset, per
account (the email address) and per client address. The caller passes the time (seconds since the epoch).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Limit:
    scope: str
    limit: int
    window_s: int

    def window_start(self, now: float) -> int:
        return int(now // self.window_s) * self.window_s

    def retry_after(self, now: float) -> int:
        """Whole seconds until the current window ends (at least 1)."""
        return max(1, math.ceil(self.window_start(now) + self.window_s - now))


class CounterStore(Protocol):
    """Fixed-window counters shared by every instance. Errors: `shared.errors.Unavailable`."""

    async def count(self, scope: str, subject: str, window_start: int) -> int:
        """Events counted for `subject` in the window starting at `window_start` (0 if none)."""
        ...

    async def add(self, scope: str, subject: str, window_start: int, window_s: int) -> int:
        """Count one more event in that window (a new window starts from 0); the count after it."""
        ...

    async def clear(self, scope: str, subject: str) -> None:
        """Forget the subject's counter (a successful login clears the account's failures)."""
        ...


@dataclass
class MemoryCounterStore:
    """A `CounterStore` for one process (tests, tools): at most `max_entries` subjects, LRU."""

    max_entries: int = 10_000
    _counts: OrderedDict[tuple[str, str], tuple[int, int]] = field(default_factory=OrderedDict)

    async def count(self, scope: str, subject: str, window_start: int) -> int:
        got = self._counts.get((scope, subject))
        return got[1] if got is not None and got[0] == window_start else 0

    async def add(self, scope: str, subject: str, window_start: int, window_s: int) -> int:
        key = (scope, subject)
        got = self._counts.pop(key, None)
        n = got[1] + 1 if got is not None and got[0] == window_start else 1
        self._counts[key] = (window_start, n)
        while len(self._counts) > self.max_entries:
            self._counts.popitem(last=False)
        return n

    async def clear(self, scope: str, subject: str) -> None:
        self._counts.pop((scope, subject), None)


@dataclass(frozen=True)
class AuthLimits:
    login_account: Limit = Limit("login-account", 5, 300)
    """Failed logins per email address."""
    login_address: Limit = Limit("login-address", 20, 300)
    """Failed logins per client address."""
    signup_account: Limit = Limit("signup-account", 3, 3600)
    signup_address: Limit = Limit("signup-address", 20, 3600)
    reset_account: Limit = Limit("reset-account", 3, 3600)
    reset_address: Limit = Limit("reset-address", 20, 3600)
    resend_account: Limit = Limit("resend-account", 3, 3600)
    """Sign-up verification emails sent again, per email address."""
    resend_address: Limit = Limit("resend-address", 20, 3600)


@dataclass
class Throttle:
    store: CounterStore
    limits: AuthLimits = field(default_factory=AuthLimits)
    cache_size: int = 10_000
    _blocked: OrderedDict[tuple[str, str], float] = field(default_factory=OrderedDict)

    async def retry_after(self, checks: list[tuple[Limit, str]], now: float) -> int:
        """0 when every (limit, subject) still allows an event now, else the longest wait in seconds."""
        wait = 0
        for limit, subject in checks:
            if self._cached_block(limit, subject, now):
                wait = max(wait, limit.retry_after(now))
                continue
            if await self.store.count(limit.scope, subject, limit.window_start(now)) >= limit.limit:
                self._remember(limit, subject, now)
                wait = max(wait, limit.retry_after(now))
        return wait

    async def hit(self, checks: list[tuple[Limit, str]], now: float) -> None:
        """Count one event against each (limit, subject)."""
        for limit, subject in checks:
            n = await self.store.add(limit.scope, subject, limit.window_start(now), limit.window_s)
            if n >= limit.limit:
                self._remember(limit, subject, now)

    async def consume(self, checks: list[tuple[Limit, str]], now: float) -> int:
        """Count the event if every limit allows it: 0, else the wait in seconds (nothing counted)."""
        wait = await self.retry_after(checks, now)
        if wait == 0:
            await self.hit(checks, now)
        return wait

    async def reset(self, limit: Limit, subject: str) -> None:
        self._blocked.pop((limit.scope, subject), None)
        await self.store.clear(limit.scope, subject)

    def _cached_block(self, limit: Limit, subject: str, now: float) -> bool:
        until = self._blocked.get((limit.scope, subject))
        if until is None:
            return False
        if until <= now:
            del self._blocked[(limit.scope, subject)]
            return False
        return True

    def _remember(self, limit: Limit, subject: str, now: float) -> None:
        key = (limit.scope, subject)
        self._blocked.pop(key, None)
        self._blocked[key] = limit.window_start(now) + limit.window_s
        while len(self._blocked) > self.cache_size:
            self._blocked.popitem(last=False)
