"""Voice quality analyzer (every 15 minutes) over the History DB, ConfigDB and Blob.

For every tenant of the region (`idx/tenant/`), read its calls since the start of yesterday
(UTC) with `list_calls`, so no cross-tenant query is needed. Then:
- **Flags**: the calls of the last `WINDOW` (24 h) are checked against the thresholds of
  `shared.quality.services.voice_quality`; if the tenant or any of its numbers is flagged, each owner and
  admin gets one `account_notice` activity per UTC day (`quality:{tid}:{day}:{user}`; a rerun,
  or an overlapping run, adds nothing: `add_activity` is idempotent by id).
- **Daily series**: `reports/{tid}/quality/{YYYY-MM-DD}.json` for yesterday and today, rewritten
  from the records each run (same records, same numbers), so the last run of a day leaves it
  final. The History store has no collection for it; `reports/{tid}/` is deleted with the tenant.
"""

from __future__ import annotations

import datetime as dt
import json

from shared.configdb import AsyncConfigDBClient, ConfigDBUnavailable
from shared.configdb_keys import kind_prefix
from shared.directory.models.tenant import Tenant, TenantStatus
from shared.directory.models.user import Role, User
from shared.directory.services.tenant_scan import iter_tenants
from shared.errors import Unavailable
from shared.history.models.call import CallRecord
from shared.history.ports import MAX_LIMIT, ReportingHistory
from shared.ports import BlobWriter, Clock
from shared.quality.services.voice_quality import (
    WINDOW,
    CallQuality,
    call_quality,
    daily_series,
    flags,
    notice_activity,
)
from shared.queue_work import Tally

REPORTS_CONTAINER = "reports"
MAX_CALLS_PER_TENANT = 50_000


def series_blob(tenant_id: str, day: dt.date) -> str:
    return f"{tenant_id}/quality/{day.isoformat()}.json"


class QualityAnalyzer:
    def __init__(
        self,
        *,
        db: AsyncConfigDBClient,
        history: ReportingHistory,
        blobs: BlobWriter,
        clock: Clock,
        region: str | None = None,
    ) -> None:
        self.db, self.history, self.blobs, self.clock, self.region = db, history, blobs, clock, region

    async def run(self) -> Tally:
        tally = Tally()
        now = self.clock.now()
        async for entry in iter_tenants(self.db, self.region):
            if entry.tenant is None:
                tally.skip("tenant_unreadable")
                continue
            if entry.tenant.status is TenantStatus.CANCELLED:
                tally.skip("cancelled")
                continue
            try:
                await self.analyze(entry.tenant, now, tally)
            except Unavailable as exc:
                tally.fail(f"unavailable:{type(exc.__cause__ or exc).__name__}")
        return tally

    async def _qualities(self, tenant_id: str, since: dt.datetime) -> tuple[list[CallQuality], bool]:
        out: list[CallQuality] = []
        cursor: str | None = None
        seen = 0
        while True:
            page = await self.history.list_calls(tenant_id, since=since, limit=MAX_LIMIT, cursor=cursor)
            call: CallRecord
            for call in page.items:
                q = call_quality(call)
                if q is not None:
                    out.append(q)
            seen += len(page.items)
            cursor = page.next_cursor
            if cursor is None:
                return out, False
            if seen >= MAX_CALLS_PER_TENANT:
                return out, True

    async def analyze(self, tenant: Tenant, now: dt.datetime, tally: Tally) -> None:
        today = now.astimezone(dt.UTC).date()
        yesterday = today - dt.timedelta(days=1)
        since = dt.datetime.combine(yesterday, dt.time(), tzinfo=dt.UTC)
        qualities, truncated = await self._qualities(tenant.id, since)
        if truncated:
            tally.notes["truncated"] += 1
        if not qualities:
            tally.skip("no_measured_calls")
            return
        for day in (yesterday, today):
            doc = daily_series(tenant.id, day, qualities, now)
            if doc is not None:
                await self.blobs.upload(
                    REPORTS_CONTAINER,
                    series_blob(tenant.id, day),
                    json.dumps(doc).encode(),
                    "application/json",
                )
                tally.notes["series_written"] += 1
        recent = [q for q in qualities if q.started_at >= now - WINDOW]
        found = flags(tenant.id, recent)
        if not found:
            tally.ok("healthy")
            return
        tally.ok("flagged")
        recipients = await self._recipients(tenant)
        if not recipients:
            tally.notes["no_recipient"] += 1
        for user_id in recipients:
            added = await self.history.add_activity(notice_activity(tenant.id, user_id, today, found, now))
            tally.notes["notice_added" if added else "notice_exists"] += 1

    async def _recipients(self, tenant: Tenant) -> list[str]:
        """The owner and the admins, by user id."""
        ids = set()
        if tenant.owner_user_id:
            ids.add(tenant.owner_user_id)
        try:
            async for kv in self.db.iter_prefix(kind_prefix(tenant.id, "user")):
                try:
                    user = User.model_validate(kv.value)
                except ValueError:
                    continue
                if user.role in (Role.OWNER, Role.ADMIN):
                    ids.add(user.id)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return sorted(ids)
