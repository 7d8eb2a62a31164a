"""Who may read what of the History DB, and the voicemail and recording media behind it.

Rules (tenant first, then role):
- Every read names the caller's tenant; another tenant's ids behave like ids that do not exist
  (NotFoundError, so the API answers 404, never 403).
- Calls: owners and admins see every call of the tenant; members see the calls whose `user_id`
  is their own. A call a member may not see is "not found". A member asking for another user's
  calls by filter is refused (Forbidden).
- Voicemails: the caller's own box; owners and admins may name another box (`user_id`), or
  reach a voicemail through its call record. A voicemail is the box owner's `voicemail`
  activity item (see `shared.history.models.views`); heard = read.
- Recordings: owners, admins and the call's user, like the call itself.
- Activities: the caller's own feed only.
- Stats: the tenant's daily series, for owners and admins.

Media: a blob name from a stored document is used only if it lies under the caller's tenant in
the expected container; audio is a read-only SAS URL valid `url_ttl` (5 minutes).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from shared.directory.services.access import is_manager
from shared.errors import Forbidden, NotFoundError
from shared.history.models.call import ActivityItem, CallRecord
from shared.history.models.stats import DailyStats
from shared.history.ports import DEFAULT_LIMIT, HistoryMedia, Page, PortalHistory
from shared.ports import Clock
from shared.security.tokens import Principal

log = logging.getLogger("services.history_access")

URL_TTL = dt.timedelta(minutes=5)
VOICEMAIL_CONTAINER = "voicemail"
RECORDINGS_CONTAINER = "recordings"
VOICEMAIL_PREFIX = "voicemail:"
ORPHAN_PREFIX = "voicemail:blob:"


@dataclass(frozen=True)
class CallFilters:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    user_id: str | None = None
    number: str | None = None
    direction: str | None = None
    disposition: str | None = None


def blob_of(path: object, container: str, tenant_id: str) -> str | None:
    """`container/{tenant}/...` -> the name inside the container, if it is this tenant's (pure)."""
    if not isinstance(path, str):
        return None
    head, _, name = path.partition("/")
    if head != container or not name.startswith(f"{tenant_id}/") or ".." in name.split("/"):
        return None
    return name


def totals_of(days: list[DailyStats], from_day: dt.date) -> DailyStats:
    """The sums of a daily series (pure)."""
    total = DailyStats(day=from_day)
    for d in days:
        total.calls += d.calls
        total.minutes += d.minutes
        total.seconds += d.seconds
        total.voicemails += d.voicemails
        for k, v in d.by_disposition.items():
            total.by_disposition[k] = total.by_disposition.get(k, 0) + v
        for k, v in d.by_direction.items():
            total.by_direction[k] = total.by_direction.get(k, 0) + v
    return total


class HistoryAccess:
    def __init__(
        self, history: PortalHistory, media: HistoryMedia, clock: Clock, url_ttl: dt.timedelta = URL_TTL
    ) -> None:
        self.history, self.media, self.clock, self.url_ttl = history, media, clock, url_ttl

    # ------------------------------------------------------------------ calls

    async def list_calls(
        self, who: Principal, filters: CallFilters, *, limit: int = DEFAULT_LIMIT, cursor: str | None = None
    ) -> Page:
        user_id = filters.user_id
        if not is_manager(who):
            if user_id is not None and user_id != who.user_id:
                raise Forbidden("members see their own calls only")
            user_id = who.user_id
        return await self.history.list_calls(
            who.tenant_id,
            since=filters.since,
            until=filters.until,
            user_id=user_id,
            number=filters.number,
            direction=filters.direction,
            disposition=filters.disposition,
            limit=limit,
            cursor=cursor,
        )

    async def count_calls(self, who: Principal, filters: CallFilters) -> int:
        """How many calls `list_calls` would return over all its pages (same visibility)."""
        user_id = filters.user_id
        if not is_manager(who):
            if user_id is not None and user_id != who.user_id:
                raise Forbidden("members see their own calls only")
            user_id = who.user_id
        return await self.history.count_calls(
            who.tenant_id,
            since=filters.since,
            until=filters.until,
            user_id=user_id,
            number=filters.number,
            direction=filters.direction,
            disposition=filters.disposition,
        )

    async def get_call(self, who: Principal, call_id: str) -> CallRecord:
        record = await self.history.get_call(who.tenant_id, call_id)
        if record is None or not (is_manager(who) or record.user_id == who.user_id):
            raise NotFoundError("call")
        return record

    async def recording_url(self, who: Principal, call_id: str) -> str:
        record = await self.get_call(who, call_id)
        name = blob_of(record.recording_blob, RECORDINGS_CONTAINER, who.tenant_id)
        if name is None or not await self.media.exists(RECORDINGS_CONTAINER, name):
            raise NotFoundError("recording")
        return self._url(RECORDINGS_CONTAINER, name)

    # ------------------------------------------------------------------ voicemails

    def _box(self, who: Principal, user_id: str | None) -> str:
        if user_id is None or user_id == who.user_id:
            return who.user_id
        if not is_manager(who):
            raise Forbidden("members see their own voicemail box only")
        return user_id

    async def list_voicemails(
        self,
        who: Principal,
        *,
        user_id: str | None = None,
        heard: bool | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> Page:
        return await self.history.list_activities(
            who.tenant_id,
            self._box(who, user_id),
            read=heard,
            archived=None,  # archiving the feed item does not hide the voicemail
            kind="voicemail",
            limit=limit,
            cursor=cursor,
        )

    async def count_voicemails(
        self, who: Principal, *, user_id: str | None = None, heard: bool | None = None
    ) -> int:
        """How many voicemails `list_voicemails` would return over all its pages."""
        return await self.history.count_activities(
            who.tenant_id, self._box(who, user_id), read=heard, archived=None, kind="voicemail"
        )

    async def unread_activities(self, who: Principal) -> int:
        """The caller's unread feed items that are not archived."""
        return await self.history.unread_count(who.tenant_id, who.user_id)

    async def voicemail(self, who: Principal, voicemail_id: str, user_id: str | None = None) -> ActivityItem:
        """The voicemail in the caller's box (or the named box); for owners and admins without a
        box named, also the voicemail of another user reached through its call record."""
        if not voicemail_id.startswith(VOICEMAIL_PREFIX):
            raise NotFoundError("voicemail")
        box = self._box(who, user_id)
        item = await self.history.get_activity(who.tenant_id, box, voicemail_id)
        if (
            item is None
            and user_id is None
            and is_manager(who)
            and not voicemail_id.startswith(ORPHAN_PREFIX)
        ):
            record = await self.history.get_call(who.tenant_id, voicemail_id[len(VOICEMAIL_PREFIX) :])
            if record is not None and record.user_id is not None and record.user_id != box:
                item = await self.history.get_activity(who.tenant_id, record.user_id, voicemail_id)
        if item is None or item.kind != "voicemail" or item.user_id is None:
            raise NotFoundError("voicemail")
        return item

    async def set_heard(
        self, who: Principal, voicemail_id: str, heard: bool, user_id: str | None = None
    ) -> ActivityItem:
        item = await self.voicemail(who, voicemail_id, user_id)
        assert item.user_id is not None
        return await self.history.update_activity(who.tenant_id, item.user_id, item.id, read=heard)

    async def voicemail_url(self, who: Principal, voicemail_id: str, user_id: str | None = None) -> str:
        item = await self.voicemail(who, voicemail_id, user_id)
        name = blob_of(item.data.get("blob"), VOICEMAIL_CONTAINER, who.tenant_id)
        if name is None or not await self.media.exists(VOICEMAIL_CONTAINER, name):
            raise NotFoundError("voicemail audio")
        return self._url(VOICEMAIL_CONTAINER, name)

    async def delete_voicemail(self, who: Principal, voicemail_id: str, user_id: str | None = None) -> None:
        """The blob, then the call record's reference to it, then the feed item (last, so a
        retry after a failure midway finds the voicemail again and finishes)."""
        item = await self.voicemail(who, voicemail_id, user_id)
        assert item.user_id is not None
        blob_path = item.data.get("blob")
        name = blob_of(blob_path, VOICEMAIL_CONTAINER, who.tenant_id)
        blob_deleted = await self.media.delete(VOICEMAIL_CONTAINER, name) if name is not None else False
        record_updated = False
        if item.call_id is not None:
            record = await self.history.get_call(who.tenant_id, item.call_id)
            if (
                record is not None
                and record.voicemail_blob is not None
                and record.voicemail_blob == blob_path
            ):
                await self.history.replace_call(record.model_copy(update={"voicemail_blob": None}))
                record_updated = True
        await self.history.delete_activity(who.tenant_id, item.user_id, item.id)
        log.info(
            "voicemail deleted",
            extra={
                "event": "voicemail_deleted",
                "tenant_id": who.tenant_id,
                "user_id": item.user_id,
                "by": who.user_id,
                "call_id": item.call_id,
                "voicemail_id": item.id,
                "blob_deleted": blob_deleted,
                "record_updated": record_updated,
            },
        )

    # ------------------------------------------------------------------ activities

    async def list_activities(
        self,
        who: Principal,
        *,
        read: bool | None = None,
        archived: bool | None = False,
        kind: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> tuple[Page, int]:
        page = await self.history.list_activities(
            who.tenant_id, who.user_id, read=read, archived=archived, kind=kind, limit=limit, cursor=cursor
        )
        return page, await self.history.unread_count(who.tenant_id, who.user_id)

    async def update_activity(
        self, who: Principal, activity_id: str, *, read: bool | None, archived: bool | None
    ) -> ActivityItem:
        return await self.history.update_activity(
            who.tenant_id, who.user_id, activity_id, read=read, archived=archived
        )

    async def read_all(self, who: Principal) -> tuple[int, int]:
        updated = await self.history.mark_all_read(who.tenant_id, who.user_id)
        return updated, await self.history.unread_count(who.tenant_id, who.user_id)

    # ------------------------------------------------------------------ stats

    async def stats(self, who: Principal, from_day: dt.date, to_day: dt.date) -> list[DailyStats]:
        if not is_manager(who):
            raise Forbidden("only owners and admins see the tenant's statistics")
        return await self.history.get_stats(who.tenant_id, from_day, to_day)

    # ------------------------------------------------------------------ media

    def _url(self, container: str, name: str) -> str:
        return self.media.read_url(container, name, now=self.clock.now(), ttl=self.url_ttl)
