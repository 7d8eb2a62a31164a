"""Per-source INVITE rate limiting and rate-limited refusal logging (pure: the clock is injected).

`SourceLimiter` keeps one token bucket per source address: `rate` INVITEs per second sustained,
`burst` at once. A source over its rate is refused (503 Rate Limited, `source_rate_limited`)
before anything else looks at the INVITE, so a flood from one address costs the edge a table
look-up per INVITE and never takes legs, routing or the tenants' shares from anyone else. At most
`max_sources` buckets are kept; the least recently seen is forgotten first (a forgotten source
starts again with a full bucket).

`RefusalLog` decides which refusals get their own log line: the first `lines` of each (reason,
source) in an `interval`; the rest of that interval are counted, and the next line of that
(reason, source) carries the count (`suppressed`). A flood then writes a few lines per interval
and every refusal is still accounted for.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Now = Callable[[], float]

INVITE_RATE_PER_SOURCE = 20.0
"""INVITEs per second one source address may send, sustained."""
INVITE_BURST_PER_SOURCE = 40.0
"""INVITEs one source address may send at once (the bucket's size)."""
MAX_SOURCES = 10_000
REFUSAL_LOG_INTERVAL_S = 5.0
REFUSAL_LOG_LINES = 10


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + max(0.0, now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_s(self) -> float:
        """Seconds until the next token."""
        return max(0.0, (1.0 - self.tokens) / self.rate)


class SourceLimiter:
    def __init__(
        self,
        now: Now,
        rate: float = INVITE_RATE_PER_SOURCE,
        burst: float = INVITE_BURST_PER_SOURCE,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        if rate <= 0 or burst < 1 or max_sources < 1:
            raise ValueError("rate must be > 0, burst >= 1 and max_sources >= 1")
        self.now, self.rate, self.burst, self.max_sources = now, rate, burst, max_sources
        self.buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, source: str) -> bool:
        """Take one INVITE's token for `source`; False when it is over its rate."""
        now = self.now()
        bucket = self.buckets.get(source)
        if bucket is None:
            bucket = TokenBucket(self.rate, self.burst, self.burst, now)
            self.buckets[source] = bucket
            while len(self.buckets) > self.max_sources:
                self.buckets.popitem(last=False)
        else:
            self.buckets.move_to_end(source)
        return bucket.take(now)

    def retry_after_s(self, source: str) -> int:
        bucket = self.buckets.get(source)
        return 1 if bucket is None else max(1, round(bucket.wait_s() + 0.5))


@dataclass
class _Window:
    started: float
    logged: int = 0
    suppressed: int = 0


class RefusalLog:
    def __init__(
        self,
        now: Now,
        interval_s: float = REFUSAL_LOG_INTERVAL_S,
        lines: int = REFUSAL_LOG_LINES,
        max_keys: int = MAX_SOURCES,
    ) -> None:
        self.now, self.interval_s, self.lines, self.max_keys = now, interval_s, lines, max_keys
        self.windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()

    def record(self, reason: str, source: str) -> int | None:
        """None: count this refusal without a line. Otherwise log a line now, carrying the number
        of refusals of this (reason, source) left without a line since its previous one."""
        now = self.now()
        key = (reason, source)
        window = self.windows.get(key)
        if window is None or now - window.started >= self.interval_s:
            carried = window.suppressed if window is not None else 0
            window = self.windows[key] = _Window(now, suppressed=carried)
            self.windows.move_to_end(key)
            while len(self.windows) > self.max_keys:
                self.windows.popitem(last=False)
        if window.logged < self.lines:
            window.logged += 1
            suppressed, window.suppressed = window.suppressed, 0
            return suppressed
        window.suppressed += 1
        return None
