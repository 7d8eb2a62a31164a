"""`HistoryStore` for asyncio code: every call runs in a worker thread, so a slow disk or a
MongoDB round trip never blocks the event loop. Same methods, same contract, awaited."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from shared.history.models.call import ActivityItem, CallRecord
from shared.history.ports import DEFAULT_LIMIT, DailyStats, HistoryStore, Page


class AsyncHistoryStore:
    def __init__(self, store: HistoryStore) -> None:
        self.store = store

    async def put_call(self, record: CallRecord | dict[str, Any]) -> bool:
        return await asyncio.to_thread(self.store.put_call, record)  # type: ignore[arg-type]

    async def replace_call(self, record: CallRecord | dict[str, Any]) -> None:
        await asyncio.to_thread(self.store.replace_call, record)  # type: ignore[arg-type]

    async def get_call(self, tenant_id: str, call_id: str) -> CallRecord | None:
        return await asyncio.to_thread(self.store.get_call, tenant_id, call_id)

    async def list_calls(
        self,
        tenant_id: str,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        user_id: str | None = None,
        number: str | None = None,
        direction: str | None = None,
        disposition: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        return await asyncio.to_thread(
            lambda: self.store.list_calls(
                tenant_id,
                since=since,
                until=until,
                user_id=user_id,
                number=number,
                direction=direction,
                disposition=disposition,
                limit=limit,
                cursor=cursor,
            )
        )

    async def count_calls(
        self,
        tenant_id: str,
        *,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        user_id: str | None = None,
        number: str | None = None,
        direction: str | None = None,
        disposition: str | None = None,
    ) -> int:
        return await asyncio.to_thread(
            lambda: self.store.count_calls(
                tenant_id,
                since=since,
                until=until,
                user_id=user_id,
                number=number,
                direction=direction,
                disposition=disposition,
            )
        )

    async def add_activity(self, item: ActivityItem | dict[str, Any]) -> bool:
        return await asyncio.to_thread(self.store.add_activity, item)  # type: ignore[arg-type]

    async def get_activity(self, tenant_id: str, user_id: str, activity_id: str) -> ActivityItem | None:
        return await asyncio.to_thread(self.store.get_activity, tenant_id, user_id, activity_id)

    async def list_activities(
        self,
        tenant_id: str,
        user_id: str,
        *,
        read: bool | None = None,
        archived: bool | None = False,
        kind: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        return await asyncio.to_thread(
            lambda: self.store.list_activities(
                tenant_id, user_id, read=read, archived=archived, kind=kind, limit=limit, cursor=cursor
            )
        )

    async def count_activities(
        self,
        tenant_id: str,
        user_id: str,
        *,
        read: bool | None = None,
        archived: bool | None = False,
        kind: str | None = None,
    ) -> int:
        return await asyncio.to_thread(
            lambda: self.store.count_activities(tenant_id, user_id, read=read, archived=archived, kind=kind)
        )

    async def update_activity(
        self,
        tenant_id: str,
        user_id: str,
        activity_id: str,
        *,
        read: bool | None = None,
        archived: bool | None = None,
    ) -> ActivityItem:
        return await asyncio.to_thread(
            lambda: self.store.update_activity(tenant_id, user_id, activity_id, read=read, archived=archived)
        )

    async def delete_activity(self, tenant_id: str, user_id: str, activity_id: str) -> bool:
        return await asyncio.to_thread(self.store.delete_activity, tenant_id, user_id, activity_id)

    async def mark_all_read(self, tenant_id: str, user_id: str) -> int:
        return await asyncio.to_thread(self.store.mark_all_read, tenant_id, user_id)

    async def unread_count(self, tenant_id: str, user_id: str) -> int:
        return await asyncio.to_thread(self.store.unread_count, tenant_id, user_id)

    async def get_stats(self, tenant_id: str, from_day: dt.date, to_day: dt.date) -> list[DailyStats]:
        return await asyncio.to_thread(self.store.get_stats, tenant_id, from_day, to_day)

    async def delete_tenant(self, tenant_id: str) -> dict[str, int]:
        return await asyncio.to_thread(self.store.delete_tenant, tenant_id)

    async def close(self) -> None:
        await asyncio.to_thread(self.store.close)
