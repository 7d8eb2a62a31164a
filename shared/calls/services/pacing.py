"""Call pacing: at most `limit` call starts per key (a tenant) in any sliding window.

Pure apart from the clock it is handed (`now()`: monotonic seconds), so tests drive it on virtual
time. The SIP edge keeps one `CallPacer` per process and asks it before each click-to-call; a
refused start is not counted, so a client that keeps retrying does not push its own window on.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

WINDOW_S = 60.0


class CallPacer:
    """Sliding-window rate limit, one window per key. Keys with no start inside the window are
    forgotten, so memory follows the keys active in the last `window_s` seconds."""

    def __init__(self, now: Callable[[], float], window_s: float = WINDOW_S) -> None:
        if window_s <= 0:
            raise ValueError("window_s must be > 0")
        self._now = now
        self.window_s = window_s
        self._starts: dict[str, collections.deque[float]] = {}

    def admit(self, key: str, limit: int) -> float | None:
        """Count a start for `key` and return None when fewer than `limit` starts fall in the
        window; otherwise count nothing and return the seconds until one leaves it."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        now = self._now()
        starts = self._starts.get(key)
        if starts is None:
            starts = self._starts[key] = collections.deque()
        while starts and now - starts[0] >= self.window_s:
            starts.popleft()
        if len(starts) >= limit:
            return max(0.0, starts[len(starts) - limit] + self.window_s - now)
        starts.append(now)
        self._forget_idle(now)
        return None

    def _forget_idle(self, now: float) -> None:
        if len(self._starts) < 1024:
            return
        for key in [k for k, q in self._starts.items() if not q or now - q[-1] >= self.window_s]:
            del self._starts[key]
