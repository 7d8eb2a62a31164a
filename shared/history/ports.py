"""The History DB port: call records, per-user activity feeds and daily stats of a tenant.

Two adapters implement `HistoryStore` and pass one contract suite
(`tests/integration/test_history_store.py`):
- `SqliteHistoryStore` (`shared/adapters/history/sqlite_store.py`), the embedded default under
  `.data/`;
- `MongoHistoryStore` (`shared/adapters/history/mongo_store.py`), pymongo against MongoDB or
  Cosmos DB for MongoDB, chosen when `MONGODB_URI` is set.
`open_history_store()` (`shared/adapters/history/factory.py`) picks one.

Contract, for every method:
- Tenant scoping: every read and write names a `tenant_id` and only ever sees documents of that
  tenant. An id that exists under another tenant behaves exactly like an id that does not exist
  (except `put_call` / `add_activity`, which raise `ConflictError` rather than overwrite).
- Idempotency: `put_call` by call id and `add_activity` by event id. A replay returns False and
  changes nothing (in particular, stats are counted once per call id).
- Pagination: keyset cursors, newest first. Calls are ordered by (started_at desc, call_id desc),
  activities by (created_at desc, id desc). A cursor is opaque (URL-safe base64) and bound to
  the query it came from; using it with other filters or another tenant raises `InvalidCursor`.
  Paging is stable under concurrent inserts: a document present when paging started is returned
  exactly once, and no document is returned twice. (A document inserted meanwhile appears only
  if it sorts after the current position, i.e. older than the last item returned.)
- Time ranges are half-open: `since <= started_at < until`. Datetimes must be aware.
- Stats days are UTC calendar days of the call's `started_at` (not the tenant's local day).
- Errors: `shared.errors.Unavailable` when the backing store cannot be reached or stays locked
  past its timeout; `NotFoundError` from `update_activity` for an unknown (tenant, user, id);
  `ValueError` (or its subclass `InvalidCursor`) for bad arguments.
- All methods are synchronous and thread-safe. Async code wraps the store in
  `shared.adapters.history.aio.AsyncHistoryStore`, which runs each call in a worker thread.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from shared.errors import DomainError, field_error
from shared.history.models.stats import DailyStats

if TYPE_CHECKING:
    from shared.history.models.call import ActivityItem, CallRecord

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_STATS_DAYS = 731


class InvalidCursor(DomainError, ValueError):
    """422: a cursor that is malformed, or was issued for another query (points at `?cursor`)."""

    status = 422
    error_id = "validation"
    title = "Invalid request"

    def __init__(self, reason: str) -> None:
        detail = f"invalid cursor: {reason}"
        super().__init__(detail, details={"errors": [field_error("#query/cursor", detail)]})
        self.reason = reason


class Page(NamedTuple):
    """One page of a listing. Unpacks as `(items, next_cursor)`; `next_cursor` is None on the last page."""

    items: list[Any]
    next_cursor: str | None


class HistoryStore(Protocol):
    # ------------------------------------------------------------------ calls

    def put_call(self, record: CallRecord) -> bool:
        """Store a call record once. True if it was new (and its stats were counted), False if a
        record with this call id already exists for this tenant (nothing changes). Raises
        `ConflictError` if the call id belongs to another tenant."""
        ...

    def replace_call(self, record: CallRecord) -> None:
        """Overwrite an existing record (same tenant and call id), e.g. after its voicemail blob was
        deleted. Stats are not recounted. `NotFoundError` if absent."""
        ...

    def get_call(self, tenant_id: str, call_id: str) -> CallRecord | None:
        """The record, or None if this tenant has no call with that id."""
        ...

    def list_calls(
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
        """A page of `CallRecord`s, newest first. `number` matches the number called or the caller.
        `limit` is 1..MAX_LIMIT."""
        ...

    def count_calls(
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
        """How many calls `list_calls` with the same filters would return over all its pages,
        counted in the store over an index (no documents are read or decoded)."""
        ...

    # ------------------------------------------------------------------ activities

    def add_activity(self, item: ActivityItem) -> bool:
        """Store a feed item once. True if new, False if this event id already exists for this
        tenant (nothing changes). `ConflictError` if the id belongs to another tenant."""
        ...

    def get_activity(self, tenant_id: str, user_id: str, activity_id: str) -> ActivityItem | None: ...

    def list_activities(
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
        """A page of one user's `ActivityItem`s, newest first. `None` for `read` / `archived`
        means either; by default archived items are left out."""
        ...

    def count_activities(
        self,
        tenant_id: str,
        user_id: str,
        *,
        read: bool | None = None,
        archived: bool | None = False,
        kind: str | None = None,
    ) -> int:
        """How many items `list_activities` with the same filters would return over all its pages,
        counted over an index."""
        ...

    def update_activity(
        self,
        tenant_id: str,
        user_id: str,
        activity_id: str,
        *,
        read: bool | None = None,
        archived: bool | None = None,
    ) -> ActivityItem:
        """Set the flags given (None leaves one unchanged) and return the item. `NotFoundError` if
        this user of this tenant has no such item."""
        ...

    def delete_activity(self, tenant_id: str, user_id: str, activity_id: str) -> bool:
        """True if an item was deleted."""
        ...

    def mark_all_read(self, tenant_id: str, user_id: str) -> int:
        """Mark every unread item of the user read (archived ones too); returns how many changed."""
        ...

    def unread_count(self, tenant_id: str, user_id: str) -> int:
        """Unread items that are not archived."""
        ...

    # ------------------------------------------------------------------ stats

    def get_stats(self, tenant_id: str, from_day: dt.date, to_day: dt.date) -> list[DailyStats]:
        """One entry per day from `from_day` to `to_day` inclusive (zeros for days without calls).
        `ValueError` if the range is reversed or longer than MAX_STATS_DAYS."""
        ...

    # ------------------------------------------------------------------ lifecycle

    def delete_tenant(self, tenant_id: str) -> dict[str, int]:
        """Delete all of a tenant's calls, activities and stats, in small batches; safe to repeat
        after a crash midway. Returns the number of documents deleted per collection."""
        ...

    def close(self) -> None: ...


# --------------------------------------------------------------------------- the services' views
#
# Async, and each the part of the store one service uses; `AsyncHistoryStore` implements them
# all, with the contract of `HistoryStore` above (tenant scoping, idempotency by id, errors).


class PortalHistory(Protocol):
    """The History DB behind the history routes (`shared.history.services.access.HistoryAccess`):
    a tenant's calls, a user's activity feed and the daily stats, read, counted and marked.

    Contract of `HistoryStore`: an id of another tenant reads as absent; `update_activity` raises
    `NotFoundError` for an unknown item; `update_activity`, `mark_all_read` and `delete_activity`
    are idempotent (repeating one changes nothing more); `shared.errors.Unavailable` when the store
    cannot be reached; `ValueError` / `InvalidCursor` for bad arguments.
    """

    async def get_call(self, tenant_id: str, call_id: str) -> CallRecord | None: ...
    async def replace_call(self, record: CallRecord) -> None: ...
    async def list_calls(self, tenant_id: str, **kw: Any) -> Page: ...
    async def count_calls(self, tenant_id: str, **kw: Any) -> int: ...
    async def get_activity(self, tenant_id: str, user_id: str, activity_id: str) -> ActivityItem | None: ...
    async def list_activities(self, tenant_id: str, user_id: str, **kw: Any) -> Page: ...
    async def count_activities(self, tenant_id: str, user_id: str, **kw: Any) -> int: ...
    async def update_activity(
        self,
        tenant_id: str,
        user_id: str,
        activity_id: str,
        *,
        read: bool | None = None,
        archived: bool | None = None,
    ) -> ActivityItem: ...
    async def delete_activity(self, tenant_id: str, user_id: str, activity_id: str) -> bool: ...
    async def mark_all_read(self, tenant_id: str, user_id: str) -> int: ...
    async def unread_count(self, tenant_id: str, user_id: str) -> int: ...
    async def get_stats(self, tenant_id: str, from_day: dt.date, to_day: dt.date) -> list[DailyStats]: ...


class VoicemailHistory(Protocol):
    """The History DB as the voicemail blob handler uses it
    (`shared.history.services.voicemail.VoicemailEvents`): find the call that left a voicemail,
    and add or refresh the box owner's `voicemail` activity.

    Contract of `HistoryStore`: `add_activity` is idempotent by id (False: it existed, nothing
    changed), `delete_activity` too (False: already gone); `shared.errors.Unavailable` when the
    store cannot be reached.
    """

    async def list_calls(self, tenant_id: str, **kw: Any) -> Page: ...
    async def get_activity(self, tenant_id: str, user_id: str, activity_id: str) -> ActivityItem | None: ...
    async def add_activity(self, item: ActivityItem) -> bool: ...
    async def delete_activity(self, tenant_id: str, user_id: str, activity_id: str) -> bool: ...


class ReportingHistory(Protocol):
    """The History DB as the reporting jobs use it (voice-quality watch, usage reports): page
    through a tenant's calls, and post a notice to a user's feed once.

    Contract of `HistoryStore`: `list_calls` pages with keyset cursors (`limit` at most
    `MAX_LIMIT`); `add_activity` is idempotent by id (False: it existed, nothing changed), so a
    rerun job posts nothing twice; `shared.errors.Unavailable` when the store cannot be reached.
    """

    async def list_calls(self, tenant_id: str, **kwargs: Any) -> Any: ...

    async def add_activity(self, item: ActivityItem) -> bool: ...


class HistoryMedia(Protocol):
    """The voicemail and recording blobs behind the history (`shared.adapters.blob_media.BlobMedia`).

    `exists` and `read_url` have no side effects; `read_url` signs locally (under a managed
    identity it asks for a signing key at most every 12 hours) and gives a read-only URL valid
    until `now + ttl`. `delete` is idempotent: False when the blob was already gone.
    `shared.errors.Unavailable` when storage cannot be reached (or, from `read_url`, when there is
    no key to sign with).
    """

    async def exists(self, container: str, name: str) -> bool: ...
    async def delete(self, container: str, name: str) -> bool: ...
    def read_url(self, container: str, name: str, *, now: dt.datetime, ttl: dt.timedelta) -> str: ...


class BlobProbe(Protocol):
    """Whether a blob exists (`shared.adapters.blob_media.BlobMedia`). No side effects;
    `shared.errors.Unavailable` when storage cannot be reached."""

    async def exists(self, container: str, name: str) -> bool: ...
