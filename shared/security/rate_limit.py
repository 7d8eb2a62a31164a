"""Login throttling: a sliding-window counter per key (account, client address).

Pure: the caller passes the time. `check` says whether another attempt is allowed and,
if not, how many seconds until one is (for `Retry-After`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class SlidingWindow:
    limit: int
    window_s: float
    _hits: dict[str, deque[float]] = field(default_factory=dict)

    def _prune(self, key: str, now: float) -> deque[float]:
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window_s:
            hits.popleft()
        if not hits:
            self._hits.pop(key, None)
            hits = self._hits.setdefault(key, deque())
        return hits

    def retry_after(self, key: str, now: float) -> float:
        """0 when an attempt is allowed now, else seconds until the oldest hit leaves the window."""
        hits = self._prune(key, now)
        if len(hits) < self.limit:
            return 0.0
        return max(0.0, hits[0] + self.window_s - now)

    def hit(self, key: str, now: float) -> None:
        self._prune(key, now).append(now)

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)


@dataclass
class LoginThrottle:
    """Failed logins limited per account and per client address, independently."""

    per_account: SlidingWindow = field(default_factory=lambda: SlidingWindow(5, 300))
    per_address: SlidingWindow = field(default_factory=lambda: SlidingWindow(20, 300))

    def retry_after(self, account: str, address: str, now: float) -> float:
        return max(self.per_account.retry_after(account, now), self.per_address.retry_after(address, now))

    def failed(self, account: str, address: str, now: float) -> None:
        self.per_account.hit(account, now)
        self.per_address.hit(address, now)

    def succeeded(self, account: str) -> None:
        self.per_account.reset(account)
