"""The auth sweeper: deletes `auth/` records nobody can use any more.

- records with an `expires_at` in the past: refresh tokens (`auth/refresh/`), sign-up and
  new-address links (`auth/verify/`, `auth/email-change/`), reset links (`auth/reset/`) and
  throttle counters whose window has ended (`auth/throttle/`);
- revoked refresh families (`auth/revoked/{family}`) once `refresh_ttl` has passed since the
  revocation: every token of the family has expired by then, so the marker guards nothing.

`auth/unverified/{user}` markers never expire (the user's document owns them). Each delete is
conditional on the revision read, so a record rewritten meanwhile (a counter in a new window) is
left alone; running twice, or on two instances at once, is harmless.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.configdb import AsyncConfigDBClient, Compare, ConfigDBUnavailable, Op
from shared.errors import Unavailable
from shared.ports import Clock
from shared.queue_work import Tally
from shared.values import UtcDatetime

SWEPT_PREFIXES = (
    "auth/refresh/",
    "auth/verify/",
    "auth/reset/",
    "auth/email-change/",
    "auth/throttle/",
    "auth/revoked/",
)


class _Expiring(BaseModel):
    model_config = ConfigDict(extra="ignore")

    expires_at: UtcDatetime | None = None
    revoked_at: UtcDatetime | None = None


@dataclass
class AuthSweeper:
    db: AsyncConfigDBClient
    clock: Clock
    refresh_ttl: dt.timedelta

    async def run(self) -> Tally:
        tally = Tally()
        now = self.clock.now()
        try:
            for prefix in SWEPT_PREFIXES:
                kind = prefix.split("/")[1]
                async for kv in self.db.iter_prefix(prefix):
                    ends = self._end_of(kv.value)
                    if ends is None or ends > now:
                        continue
                    result = await self.db.txn([Compare(kv.key, kv.revision)], [Op.delete(kv.key)])
                    if result.succeeded:
                        tally.ok(f"{kind}_deleted")
                    else:
                        tally.skip(f"{kind}_changed")
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return tally

    def _end_of(self, value: Any) -> dt.datetime | None:
        try:
            rec = _Expiring.model_validate(value)
        except ValidationError:
            return None
        if rec.expires_at is not None:
            return rec.expires_at
        if rec.revoked_at is not None:
            return rec.revoked_at + self.refresh_ttl
        return None
