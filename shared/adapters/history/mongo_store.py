"""The production History DB: pymongo against MongoDB (or Azure Cosmos DB for MongoDB).

Collections and the indexes created on open (idempotent `create_index` calls):
- `calls`: `call_id` unique; (tenant_id, started_us desc, call_id desc) for the tenant's timeline;
  (tenant_id, X, started_us desc, call_id desc) for X in user_id, number_called, caller,
  disposition and direction, so a filtered page walks an index in order and stops at the limit;
  (tenant_id, user_id, disposition, started_us desc, call_id desc) for a member's filtered pages.
  `count_calls` is `count_documents` over the same filters and indexes.
- `activities`: `id` unique; (tenant_id, user_id, created_us desc, id desc); (tenant_id,
  user_id, kind, read, archived) for `count_activities` and `unread_count`.
- `stats_daily`: `_id` is "{tenant_id}|{day}"; (tenant_id, day).

Documents are the models' JSON form (times as ISO-8601 strings ending in `Z`), plus an integer
sort key in microseconds (`started_us`, `created_us`) because BSON dates keep only milliseconds.

Stats are counted with one `$inc` upsert after the call's insert succeeded, so a replay (duplicate
key) never counts twice. Without multi-document transactions there is one gap: a process that
dies between the insert and the `$inc` leaves that one call out of the day's counters.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pymongo import ASCENDING, DESCENDING, MongoClient, ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import ConnectionFailure, DuplicateKeyError, ExecutionTimeout, WTimeoutError
from pymongo.uri_parser import parse_uri

from shared.adapters.history.codec import (
    check_day_range,
    check_limit,
    daily_from_metrics,
    decode_cursor,
    encode_cursor,
    fill_series,
    query_fingerprint,
    scalar,
    stats_increments,
    to_us,
)
from shared.adapters.history.documents import as_activity, as_call, log_event
from shared.errors import ConflictError, NotFoundError, Unavailable
from shared.history.models.call import ActivityItem, CallRecord
from shared.history.ports import DEFAULT_LIMIT, DailyStats, Page

DEFAULT_DATABASE = "cloudpbx"
_HIDDEN = {"_id": 0, "started_us": 0, "created_us": 0}
DELETE_BATCH = 1000


@contextmanager
def _translated() -> Iterator[None]:
    """pymongo's "cannot reach the server" errors become `Unavailable`. Others (duplicates, bad
    queries, authorisation) propagate as they are: retrying them would not help."""
    try:
        yield
    except (ConnectionFailure, ExecutionTimeout, WTimeoutError) as exc:
        raise Unavailable(f"history db: {exc}") from exc


def _json(model: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(model.model_dump_json())
    return result


def _calls_filter(
    tenant_id: str,
    since_us: int | None,
    until_us: int | None,
    user_id: str | None,
    number: str | None,
    direction: str | None,
    disposition: str | None,
) -> list[dict[str, Any]]:
    """The `$and` clauses of a calls listing or count (pure)."""
    clauses: list[dict[str, Any]] = [{"tenant_id": tenant_id}]
    time_range: dict[str, int] = {}
    if since_us is not None:
        time_range["$gte"] = since_us
    if until_us is not None:
        time_range["$lt"] = until_us
    if time_range:
        clauses.append({"started_us": time_range})
    if user_id is not None:
        clauses.append({"user_id": user_id})
    if number is not None:
        clauses.append({"$or": [{"number_called": number}, {"caller": number}]})
    if direction is not None:
        clauses.append({"direction": scalar(direction)})
    if disposition is not None:
        clauses.append({"disposition": scalar(disposition)})
    return clauses


def _activities_filter(
    tenant_id: str, user_id: str, read: bool | None, archived: bool | None, kind: str | None
) -> list[dict[str, Any]]:
    """The `$and` clauses of an activities listing or count (pure)."""
    clauses: list[dict[str, Any]] = [{"tenant_id": tenant_id, "user_id": user_id}]
    if read is not None:
        clauses.append({"read": read})
    if archived is not None:
        clauses.append({"archived": archived})
    if kind is not None:
        clauses.append({"kind": scalar(kind)})
    return clauses


class MongoHistoryStore:
    """`HistoryStore` over a MongoDB database (from the URI's path, else `cloudpbx`)."""

    def __init__(
        self,
        uri: str,
        *,
        database: str | None = None,
        server_selection_timeout_ms: int = 5_000,
        client: MongoClient[dict[str, Any]] | None = None,
    ) -> None:
        self._own_client = client is None
        self.client: MongoClient[dict[str, Any]] = client or MongoClient(
            uri, serverSelectionTimeoutMS=server_selection_timeout_ms, appname="cloudpbx-history"
        )
        name = database or parse_uri(uri).get("database") or DEFAULT_DATABASE
        self.db = self.client[name]
        self.calls: Collection[dict[str, Any]] = self.db["calls"]
        self.activities: Collection[dict[str, Any]] = self.db["activities"]
        self.stats: Collection[dict[str, Any]] = self.db["stats_daily"]
        self.ensure_indexes()

    def ensure_indexes(self) -> None:
        with _translated():
            self.calls.create_index([("call_id", ASCENDING)], unique=True, name="call_id_unique")
            self.calls.create_index(
                [("tenant_id", ASCENDING), ("started_us", DESCENDING), ("call_id", DESCENDING)],
                name="tenant_time",
            )
            self.calls.create_index(
                [
                    ("tenant_id", ASCENDING),
                    ("user_id", ASCENDING),
                    ("started_us", DESCENDING),
                    ("call_id", DESCENDING),
                ],
                name="user_time",
            )
            for field in ("number_called", "caller", "disposition", "direction"):
                self.calls.create_index(
                    [
                        ("tenant_id", ASCENDING),
                        (field, ASCENDING),
                        ("started_us", DESCENDING),
                        ("call_id", DESCENDING),
                    ],
                    name=f"{field}_time",
                )
            self.calls.create_index(
                [
                    ("tenant_id", ASCENDING),
                    ("user_id", ASCENDING),
                    ("disposition", ASCENDING),
                    ("started_us", DESCENDING),
                    ("call_id", DESCENDING),
                ],
                name="user_disposition_time",
            )
            self.activities.create_index([("id", ASCENDING)], unique=True, name="id_unique")
            self.activities.create_index(
                [
                    ("tenant_id", ASCENDING),
                    ("user_id", ASCENDING),
                    ("kind", ASCENDING),
                    ("read", ASCENDING),
                    ("archived", ASCENDING),
                ],
                name="user_kind_read",
            )
            self.activities.create_index(
                [
                    ("tenant_id", ASCENDING),
                    ("user_id", ASCENDING),
                    ("created_us", DESCENDING),
                    ("id", DESCENDING),
                ],
                name="user_time",
            )
            self.stats.create_index([("tenant_id", ASCENDING), ("day", ASCENDING)], name="tenant_day")

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    # ------------------------------------------------------------------ calls

    def put_call(self, record: CallRecord | dict[str, Any]) -> bool:
        call = as_call(record)
        doc = {**_json(call), "started_us": to_us(call.started_at)}
        with _translated():
            try:
                self.calls.insert_one(doc)
            except DuplicateKeyError:
                owner = self.calls.find_one({"call_id": call.call_id}, {"tenant_id": 1})
                if owner is not None and owner["tenant_id"] != call.tenant_id:
                    raise ConflictError(
                        f"call/{call.call_id}", "call id already used by another tenant"
                    ) from None
                return False
            day, inc = stats_increments(call)
            self._inc_stats(call.tenant_id, day, {k: v for k, v in inc.items() if v})
        log_event("history.call_stored", tenant_id=call.tenant_id, call_id=call.call_id)
        return True

    def _inc_stats(self, tenant_id: str, day: dt.date, inc: dict[str, int]) -> None:
        key = {"_id": f"{tenant_id}|{day.isoformat()}"}
        update = {"$inc": inc, "$setOnInsert": {"tenant_id": tenant_id, "day": day.isoformat()}}
        try:
            self.stats.update_one(key, update, upsert=True)
        except DuplicateKeyError:  # two first upserts of a day raced; the document exists now
            self.stats.update_one(key, update, upsert=True)

    def replace_call(self, record: CallRecord | dict[str, Any]) -> None:
        call = as_call(record)
        doc = {**_json(call), "started_us": to_us(call.started_at)}
        with _translated():
            result = self.calls.replace_one({"call_id": call.call_id, "tenant_id": call.tenant_id}, doc)
        if result.matched_count == 0:
            raise NotFoundError(f"call {call.call_id}")

    def get_call(self, tenant_id: str, call_id: str) -> CallRecord | None:
        with _translated():
            doc = self.calls.find_one({"call_id": call_id, "tenant_id": tenant_id}, _HIDDEN)
        return None if doc is None else CallRecord.model_validate(doc)

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
        check_limit(limit)
        since_us = to_us(since) if since is not None else None
        until_us = to_us(until) if until is not None else None
        fingerprint = query_fingerprint(
            "calls",
            {
                "tenant_id": tenant_id,
                "since": since_us,
                "until": until_us,
                "user_id": user_id,
                "number": number,
                "direction": scalar(direction),
                "disposition": scalar(disposition),
            },
        )
        clauses = _calls_filter(tenant_id, since_us, until_us, user_id, number, direction, disposition)
        if cursor is not None:
            after_us, after_id = decode_cursor(cursor, fingerprint)
            clauses.append(
                {
                    "$or": [
                        {"started_us": {"$lt": after_us}},
                        {"started_us": after_us, "call_id": {"$lt": after_id}},
                    ]
                }
            )
        with _translated():
            docs = list(
                self.calls.find({"$and": clauses}, {"_id": 0})
                .sort([("started_us", DESCENDING), ("call_id", DESCENDING)])
                .limit(limit + 1)
            )
        more = len(docs) > limit
        docs = docs[:limit]
        next_cursor = (
            encode_cursor(fingerprint, docs[-1]["started_us"], docs[-1]["call_id"]) if more else None
        )
        for doc in docs:
            doc.pop("started_us", None)
        return Page([CallRecord.model_validate(doc) for doc in docs], next_cursor)

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
        since_us = to_us(since) if since is not None else None
        until_us = to_us(until) if until is not None else None
        clauses = _calls_filter(tenant_id, since_us, until_us, user_id, number, direction, disposition)
        with _translated():
            return self.calls.count_documents({"$and": clauses})

    # ------------------------------------------------------------------ activities

    def add_activity(self, item: ActivityItem | dict[str, Any]) -> bool:
        act = as_activity(item)
        doc = {**_json(act), "created_us": to_us(act.created_at)}
        with _translated():
            try:
                self.activities.insert_one(doc)
            except DuplicateKeyError:
                owner = self.activities.find_one({"id": act.id}, {"tenant_id": 1})
                if owner is not None and owner["tenant_id"] != act.tenant_id:
                    raise ConflictError(
                        f"activity/{act.id}", "activity id already used by another tenant"
                    ) from None
                return False
        return True

    def get_activity(self, tenant_id: str, user_id: str, activity_id: str) -> ActivityItem | None:
        with _translated():
            doc = self.activities.find_one(
                {"id": activity_id, "tenant_id": tenant_id, "user_id": user_id}, _HIDDEN
            )
        return None if doc is None else ActivityItem.model_validate(doc)

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
        check_limit(limit)
        fingerprint = query_fingerprint(
            "activities",
            {
                "tenant_id": tenant_id,
                "user_id": user_id,
                "read": read,
                "archived": archived,
                "kind": scalar(kind),
            },
        )
        clauses = _activities_filter(tenant_id, user_id, read, archived, kind)
        if cursor is not None:
            after_us, after_id = decode_cursor(cursor, fingerprint)
            clauses.append(
                {
                    "$or": [
                        {"created_us": {"$lt": after_us}},
                        {"created_us": after_us, "id": {"$lt": after_id}},
                    ]
                }
            )
        with _translated():
            docs = list(
                self.activities.find({"$and": clauses}, {"_id": 0})
                .sort([("created_us", DESCENDING), ("id", DESCENDING)])
                .limit(limit + 1)
            )
        more = len(docs) > limit
        docs = docs[:limit]
        next_cursor = encode_cursor(fingerprint, docs[-1]["created_us"], docs[-1]["id"]) if more else None
        for doc in docs:
            doc.pop("created_us", None)
        return Page([ActivityItem.model_validate(doc) for doc in docs], next_cursor)

    def count_activities(
        self,
        tenant_id: str,
        user_id: str,
        *,
        read: bool | None = None,
        archived: bool | None = False,
        kind: str | None = None,
    ) -> int:
        with _translated():
            return self.activities.count_documents(
                {"$and": _activities_filter(tenant_id, user_id, read, archived, kind)}
            )

    def update_activity(
        self,
        tenant_id: str,
        user_id: str,
        activity_id: str,
        *,
        read: bool | None = None,
        archived: bool | None = None,
    ) -> ActivityItem:
        changes = {k: v for k, v in (("read", read), ("archived", archived)) if v is not None}
        query = {"id": activity_id, "tenant_id": tenant_id, "user_id": user_id}
        with _translated():
            if changes:
                doc = self.activities.find_one_and_update(
                    query, {"$set": changes}, projection=_HIDDEN, return_document=ReturnDocument.AFTER
                )
            else:
                doc = self.activities.find_one(query, _HIDDEN)
        if doc is None:
            raise NotFoundError(f"activity {activity_id}")
        return ActivityItem.model_validate(doc)

    def delete_activity(self, tenant_id: str, user_id: str, activity_id: str) -> bool:
        with _translated():
            result = self.activities.delete_one(
                {"id": activity_id, "tenant_id": tenant_id, "user_id": user_id}
            )
        return result.deleted_count > 0

    def mark_all_read(self, tenant_id: str, user_id: str) -> int:
        with _translated():
            result = self.activities.update_many(
                {"tenant_id": tenant_id, "user_id": user_id, "read": False}, {"$set": {"read": True}}
            )
        return result.modified_count

    def unread_count(self, tenant_id: str, user_id: str) -> int:
        with _translated():
            return self.activities.count_documents(
                {"tenant_id": tenant_id, "user_id": user_id, "read": False, "archived": False}
            )

    # ------------------------------------------------------------------ stats

    def get_stats(self, tenant_id: str, from_day: dt.date, to_day: dt.date) -> list[DailyStats]:
        days = check_day_range(from_day, to_day)
        with _translated():
            docs = list(
                self.stats.find(
                    {
                        "tenant_id": tenant_id,
                        "day": {"$gte": from_day.isoformat(), "$lte": to_day.isoformat()},
                    }
                )
            )
        found: dict[dt.date, DailyStats] = {}
        for doc in docs:
            day = dt.date.fromisoformat(doc["day"])
            metrics: dict[str, int] = {}
            for name, value in doc.items():
                if isinstance(value, dict):
                    metrics.update({f"{name}.{k}": v for k, v in value.items()})
                elif isinstance(value, int) and not isinstance(value, bool):
                    metrics[name] = value
            found[day] = daily_from_metrics(day, metrics)
        return fill_series(days, found)

    # ------------------------------------------------------------------ lifecycle

    def delete_tenant(self, tenant_id: str) -> dict[str, int]:
        deleted: dict[str, int] = {}
        with _translated():
            for name, coll in (
                ("calls", self.calls),
                ("activities", self.activities),
                ("stats_daily", self.stats),
            ):
                total = 0
                while True:  # batches keep each delete short and let a crash resume where it stopped
                    ids = [
                        d["_id"] for d in coll.find({"tenant_id": tenant_id}, {"_id": 1}).limit(DELETE_BATCH)
                    ]
                    if not ids:
                        break
                    total += coll.delete_many({"_id": {"$in": ids}, "tenant_id": tenant_id}).deleted_count
                deleted[name] = total
        log_event("history.tenant_deleted", tenant_id=tenant_id, deleted=deleted)
        return deleted
