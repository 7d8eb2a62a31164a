"""The dashboard's figures over a real SQLite History DB: today's calls in the tenant's time zone
(half-open local day), the caller's visibility (owners: the tenant; members: their own calls),
unheard voicemails (archived ones too) and unread feed items, all as counts in the store."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from shared.adapters.history.aio import AsyncHistoryStore
from shared.adapters.history.sqlite_store import SqliteHistoryStore
from shared.directory.models.tenant import Tenant
from shared.history.models.call import ActivityItem, CallRecord
from shared.history.services.access import HistoryAccess
from shared.history.services.dashboard import DashboardService
from shared.security.tokens import Principal

TENANT = str(uuid.uuid4())
OWNER, MEMBER = str(uuid.uuid4()), str(uuid.uuid4())
NOW = dt.datetime(2024, 7, 10, 3, 30, tzinfo=dt.UTC)  # 23:30 on 9 July in New York (UTC-4)
DAY_START = dt.datetime(2024, 7, 9, 4, 0, tzinfo=dt.UTC)  # local midnight
DAY_END = dt.datetime(2024, 7, 10, 4, 0, tzinfo=dt.UTC)


class FixedClock:
    def now(self) -> dt.datetime:
        return NOW


class OneTenant:
    async def get(self, who: Principal) -> Any:
        assert who.tenant_id == TENANT
        doc = Tenant(
            id=TENANT,
            name="Dash Ltd",
            region="eu",
            created_at=NOW - dt.timedelta(days=3),
            trial_ends_at=NOW + dt.timedelta(days=10),
            time_zone="America/New_York",
        )
        return SimpleNamespace(doc=doc)


def call(started: dt.datetime, disposition: str, user_id: str, tenant: str = TENANT) -> CallRecord:
    return CallRecord(
        call_id=str(uuid.uuid4()),
        tenant_id=tenant,
        number_called="+15557771000",
        caller="+15559870001",
        started_at=started,
        ended_at=started + dt.timedelta(seconds=30),
        disposition=disposition,  # type: ignore[arg-type]
        user_id=user_id,
    )


def voicemail(user_id: str, *, read: bool = False, archived: bool = False) -> ActivityItem:
    return ActivityItem(
        id=f"voicemail:{uuid.uuid4()}",
        tenant_id=TENANT,
        user_id=user_id,
        kind="voicemail",
        created_at=NOW,
        read=read,
        archived=archived,
    )


def test_dashboard_counts_the_local_day_with_the_callers_visibility(tmp_path: Path) -> None:
    store = SqliteHistoryStore(tmp_path / "history.sqlite3")
    edge = dt.timedelta(microseconds=1)
    store.put_calls(
        [
            call(DAY_START, "answered", OWNER),  # the first instant of the local day
            call(DAY_START + dt.timedelta(hours=1), "missed", MEMBER),
            call(DAY_START + dt.timedelta(hours=2), "voicemail", MEMBER),
            call(DAY_END - edge, "missed", OWNER),  # the last instant
            call(DAY_START - edge, "missed", MEMBER),  # yesterday, local time
            call(DAY_END, "voicemail", MEMBER),  # tomorrow
            call(DAY_START + dt.timedelta(hours=3), "missed", MEMBER, tenant=str(uuid.uuid4())),
        ]
    )
    for item in (
        voicemail(MEMBER),
        voicemail(MEMBER, archived=True),  # archiving the feed item does not hear the voicemail
        voicemail(MEMBER, read=True),
        voicemail(OWNER),
    ):
        store.add_activity(item)
    history = AsyncHistoryStore(store)
    access = HistoryAccess(history, media=None, clock=FixedClock())  # type: ignore[arg-type]
    service = DashboardService(OneTenant(), access, FixedClock())  # type: ignore[arg-type]

    async def both() -> tuple[Any, Any]:
        owner = await service.dashboard(Principal(TENANT, OWNER, "owner"))
        member = await service.dashboard(Principal(TENANT, MEMBER, "member"))
        return owner, member

    try:
        owner, member = asyncio.run(both())
    finally:
        store.close()
    assert owner.today.model_dump() == {"calls": 4, "missed": 2, "voicemails": 1}
    assert member.today.model_dump() == {"calls": 2, "missed": 1, "voicemails": 1}
    assert (owner.unheard_voicemails, member.unheard_voicemails) == (1, 2)
    assert (owner.unread_activities, member.unread_activities) == (1, 1)
    assert owner.trial.status == "trial" and owner.trial.days_left == 10
