"""`shared.security.rate_limit.CounterStore` over the ConfigDB: every API instance of a region
counts in the same place.

One key per scope and subject, holding the current fixed window only::

    auth/throttle/{scope}/{sha256(subject)[:40]}   {"window_start": 1700000000, "count": 3,
                                                    "expires_at": "2023-11-14T22:18:20Z"}

The subject (an email or a client address) is stored only as a digest. An increment is a
compare-and-swap on the key's revision, retried when another instance won the race; a key whose
window has ended is counted as 0 and overwritten by the next event. `expires_at` (the end of the
window) lets the auth sweeper delete idle counters, so the keyspace holds only subjects seen in
their current window.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from shared.configdb import AsyncConfigDBClient, Compare, ConfigDBUnavailable, Op
from shared.errors import Unavailable

THROTTLE_PREFIX = "auth/throttle/"
_ATTEMPTS = 8


def throttle_key(scope: str, subject: str) -> str:
    digest = hashlib.sha256(subject.encode()).hexdigest()[:40]
    return f"{THROTTLE_PREFIX}{scope}/{digest}"


def _value(window_start: int, window_s: int, count: int) -> dict[str, Any]:
    end = dt.datetime.fromtimestamp(window_start + window_s, dt.UTC)
    return {"window_start": window_start, "count": count, "expires_at": end.strftime("%Y-%m-%dT%H:%M:%SZ")}


class ConfigThrottleStore:
    def __init__(self, db: AsyncConfigDBClient) -> None:
        self.db = db

    async def count(self, scope: str, subject: str, window_start: int) -> int:
        try:
            kv = await self.db.get_or_none(throttle_key(scope, subject))
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        if kv is None or not isinstance(kv.value, dict) or kv.value.get("window_start") != window_start:
            return 0
        return int(kv.value.get("count", 0))

    async def add(self, scope: str, subject: str, window_start: int, window_s: int) -> int:
        key = throttle_key(scope, subject)
        n = 1
        try:
            for _ in range(_ATTEMPTS):
                kv = await self.db.get_or_none(key)
                revision = 0 if kv is None else kv.revision
                same = kv is not None and isinstance(kv.value, dict)
                same = same and kv.value.get("window_start") == window_start  # type: ignore[union-attr]
                n = int(kv.value.get("count", 0)) + 1 if same else 1  # type: ignore[union-attr]
                result = await self.db.txn(
                    [Compare(key, revision)], [Op.put(key, _value(window_start, window_s, n))]
                )
                if result.succeeded:
                    return n
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return n  # lost every race: others are counting this subject right now; n is a lower bound

    async def clear(self, scope: str, subject: str) -> None:
        try:
            await self.db.txn([], [Op.delete(throttle_key(scope, subject))])
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
