"""The embedded History DB: one SQLite file (stdlib sqlite3) in WAL mode.

Documents are stored as JSON text beside the indexed columns the queries need (tenant, user,
time as integer microseconds, call id, filters). Several processes may open the same file: the
SIP edge writes while the functions read. To make that safe:
- WAL journal: readers never block the writer and the writer never blocks readers;
- every write is one short `BEGIN IMMEDIATE` transaction, so a writer takes the write lock up
  front and waits for it under `busy_timeout` instead of failing on a lock upgrade;
- `busy_timeout` (default 30 s) makes SQLite wait for a lock rather than answer "database is
  locked"; only past it does the store raise `Unavailable`;
- `synchronous=NORMAL`: a committed write survives a crash of the process (not necessarily a
  power cut of the host, where the last transactions may roll back).
Each thread gets its own connection; a store object is safe to share between threads.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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

# 2: number/caller indexes end in call_id; disposition and direction indexes
# 3: (tenant, user, disposition, time) for a member's filtered pages and counts; (tenant, user,
#    kind, read, archived) for counting a user's unheard voicemails
SCHEMA_VERSION = 3
DELETE_BATCH = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    call_id       TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    started_us    INTEGER NOT NULL,
    user_id       TEXT,
    number_called TEXT,
    caller        TEXT,
    direction     TEXT,
    disposition   TEXT,
    doc           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_tenant_time ON calls (tenant_id, started_us DESC, call_id DESC);
CREATE INDEX IF NOT EXISTS calls_user_time ON calls (tenant_id, user_id, started_us DESC, call_id DESC);
DROP INDEX IF EXISTS calls_number_time;
DROP INDEX IF EXISTS calls_caller_time;
CREATE INDEX IF NOT EXISTS calls_number_time2
    ON calls (tenant_id, number_called, started_us DESC, call_id DESC);
CREATE INDEX IF NOT EXISTS calls_caller_time2 ON calls (tenant_id, caller, started_us DESC, call_id DESC);
CREATE INDEX IF NOT EXISTS calls_disposition_time
    ON calls (tenant_id, disposition, started_us DESC, call_id DESC);
CREATE INDEX IF NOT EXISTS calls_direction_time
    ON calls (tenant_id, direction, started_us DESC, call_id DESC);
CREATE INDEX IF NOT EXISTS calls_user_disposition_time
    ON calls (tenant_id, user_id, disposition, started_us DESC, call_id DESC);

CREATE TABLE IF NOT EXISTS activities (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    user_id    TEXT,
    kind       TEXT,
    created_us INTEGER NOT NULL,
    read       INTEGER NOT NULL,
    archived   INTEGER NOT NULL,
    doc        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS activities_user_time
    ON activities (tenant_id, user_id, created_us DESC, id DESC);
CREATE INDEX IF NOT EXISTS activities_unread ON activities (tenant_id, user_id, read, archived);
CREATE INDEX IF NOT EXISTS activities_kind_unread ON activities (tenant_id, user_id, kind, read, archived);

CREATE TABLE IF NOT EXISTS stats_daily (
    tenant_id TEXT NOT NULL,
    day       TEXT NOT NULL,
    metric    TEXT NOT NULL,
    value     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day, metric)
);
"""

_INC_STAT = (
    "INSERT INTO stats_daily (tenant_id, day, metric, value) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (tenant_id, day, metric) DO UPDATE SET value = value + excluded.value"
)


def _is_locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _calls_index(user_id: str | None, disposition: str | None, direction: str | None) -> str:
    """The index a calls listing walks, in (started_us, call_id) order, so a page never sorts and
    stops after `limit` matches; a count reads only that index's entries in range. The planner
    left alone picks the tenant index even for a rare disposition, scanning the whole tenant
    (120 ms at 100,000 calls)."""
    if user_id is not None:
        return "calls_user_disposition_time" if disposition is not None else "calls_user_time"
    if disposition is not None:
        return "calls_disposition_time"
    if direction is not None:
        return "calls_direction_time"
    return "calls_tenant_time"


def _calls_where(
    tenant_id: str,
    since_us: int | None,
    until_us: int | None,
    user_id: str | None,
    direction: str | None,
    disposition: str | None,
) -> tuple[list[str], list[Any]]:
    """The WHERE terms and arguments of a calls listing or count, `number` aside (pure)."""
    where, args = ["tenant_id = ?"], [tenant_id]
    if since_us is not None:
        where.append("started_us >= ?")
        args.append(since_us)
    if until_us is not None:
        where.append("started_us < ?")
        args.append(until_us)
    if user_id is not None:
        where.append("user_id = ?")
        args.append(user_id)
    if direction is not None:
        where.append("direction = ?")
        args.append(scalar(direction))
    if disposition is not None:
        where.append("disposition = ?")
        args.append(scalar(disposition))
    return where, args


class SqliteHistoryStore:
    """`HistoryStore` over one SQLite file (created with its parent folder if missing)."""

    def __init__(self, path: Path | str, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        self._init_schema()

    # ------------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        if self._closed:
            raise RuntimeError("history store is closed")
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout_ms / 1000,
                isolation_level=None,  # autocommit; transactions are explicit
                check_same_thread=False,
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            self._retry_locked(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone())
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise Unavailable(f"history db {self.path}: {exc}") from exc
        self._local.conn = conn
        with self._conns_lock:
            self._conns.append(conn)
        return conn

    def _retry_locked(self, fn: Any) -> Any:
        """Retry `fn` while SQLite answers busy without calling its busy handler (journal-mode
        switches on a fresh file); bounded by busy_timeout."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        delay = 0.005
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_locked(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction holding the write lock from its start."""
        conn = self._conn()
        try:
            self._retry_locked(lambda: conn.execute("BEGIN IMMEDIATE"))
        except sqlite3.OperationalError as exc:
            raise Unavailable(f"history db {self.path} stayed locked: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _read(self, sql: str, args: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if _is_locked(exc):
                raise Unavailable(f"history db {self.path}: {exc}") from exc
            raise

    def _init_schema(self) -> None:
        with self._write() as conn:
            (version,) = conn.execute("PRAGMA user_version").fetchone()
            if version < SCHEMA_VERSION:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        self._closed = True
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.close()
        self._local = threading.local()

    # ------------------------------------------------------------------ calls

    def put_call(self, record: CallRecord | dict[str, Any]) -> bool:
        call = as_call(record)
        with self._write() as conn:
            new = self._insert_call(conn, call)
        if new:
            log_event("history.call_stored", tenant_id=call.tenant_id, call_id=call.call_id)
        return new

    def put_calls(self, records: Iterable[CallRecord | dict[str, Any]]) -> int:
        """`put_call` for many records in one write transaction (imports and seeding): one commit,
        and the stats of the new records summed into one upsert per (day, metric). Returns how
        many were new. All or nothing: a `ConflictError` on one record rolls the batch back."""
        calls = [as_call(r) for r in records]
        totals: dict[tuple[str, str, str], int] = {}
        with self._write() as conn:
            new = 0
            for call in calls:
                if not self._insert_call(conn, call, count_stats=False):
                    continue
                new += 1
                day, inc = stats_increments(call)
                for name, value in inc.items():
                    if value:
                        k = (call.tenant_id, day.isoformat(), name)
                        totals[k] = totals.get(k, 0) + value
            conn.executemany(_INC_STAT, [(*k, value) for k, value in totals.items()])
        return new

    def _insert_call(self, conn: sqlite3.Connection, call: CallRecord, *, count_stats: bool = True) -> bool:
        """Insert the record (and count its stats unless told not to), inside the caller's write
        transaction. False if the record existed (nothing changes)."""
        row = (
            call.call_id,
            call.tenant_id,
            to_us(call.started_at),
            call.user_id,
            call.number_called,
            call.caller,
            scalar(call.direction),
            scalar(call.disposition),
            call.model_dump_json(),
        )
        cur = conn.execute(
            "INSERT INTO calls (call_id, tenant_id, started_us, user_id, number_called, caller,"
            " direction, disposition, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (call_id) DO NOTHING",
            row,
        )
        if cur.rowcount == 0:
            (owner,) = conn.execute(
                "SELECT tenant_id FROM calls WHERE call_id = ?", (call.call_id,)
            ).fetchone()
            if owner != call.tenant_id:
                raise ConflictError(f"call/{call.call_id}", "call id already used by another tenant")
            return False
        if count_stats:
            day, inc = stats_increments(call)
            conn.executemany(
                _INC_STAT,
                [(call.tenant_id, day.isoformat(), name, value) for name, value in inc.items() if value],
            )
        return True

    def replace_call(self, record: CallRecord | dict[str, Any]) -> None:
        call = as_call(record)
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE calls SET started_us = ?, user_id = ?, number_called = ?, caller = ?,"
                " direction = ?, disposition = ?, doc = ? WHERE call_id = ? AND tenant_id = ?",
                (
                    to_us(call.started_at),
                    call.user_id,
                    call.number_called,
                    call.caller,
                    scalar(call.direction),
                    scalar(call.disposition),
                    call.model_dump_json(),
                    call.call_id,
                    call.tenant_id,
                ),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"call {call.call_id}")

    def get_call(self, tenant_id: str, call_id: str) -> CallRecord | None:
        rows = self._read("SELECT doc FROM calls WHERE call_id = ? AND tenant_id = ?", (call_id, tenant_id))
        return CallRecord.model_validate_json(rows[0][0]) if rows else None

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
        where, args = _calls_where(tenant_id, since_us, until_us, user_id, direction, disposition)
        if cursor is not None:
            after_us, after_id = decode_cursor(cursor, fingerprint)
            where.append("(started_us, call_id) < (?, ?)")  # a range seek on the time index
            args += [after_us, after_id]
        cond = " AND ".join(where)
        order = " ORDER BY started_us DESC, call_id DESC LIMIT ?"
        if number is None:
            index = _calls_index(user_id, disposition, direction)
            sql = f"SELECT started_us, call_id, doc FROM calls INDEXED BY {index} WHERE {cond}{order}"
            params = [*args, limit + 1]
        else:
            # each side walks its own (tenant, number, time) index in order and stops at the page size
            sides = [
                f"SELECT * FROM (SELECT started_us, call_id, doc FROM calls INDEXED BY {index}"
                f" WHERE {cond} AND {column} = ?{order})"
                for index, column in (
                    ("calls_number_time2", "number_called"),
                    ("calls_caller_time2", "caller"),
                )
            ]
            sql = f"{sides[0]} UNION {sides[1]}{order}"
            params = [*args, number, limit + 1, *args, number, limit + 1, limit + 1]
        rows = [(doc, t_us, call_id) for t_us, call_id, doc in self._read(sql, params)]
        more = len(rows) > limit
        rows = rows[:limit]
        items = [CallRecord.model_validate_json(doc) for doc, _, _ in rows]
        next_cursor = encode_cursor(fingerprint, rows[-1][1], rows[-1][2]) if more else None
        return Page(items, next_cursor)

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
        where, args = _calls_where(tenant_id, since_us, until_us, user_id, direction, disposition)
        cond = " AND ".join(where)
        if number is None:
            index = _calls_index(user_id, disposition, direction)
            sql = f"SELECT count(*) FROM calls INDEXED BY {index} WHERE {cond}"
            params = args
        else:  # a call whose number called and caller are both `number` counts once
            sql = (
                f"SELECT count(*) FROM (SELECT call_id FROM calls INDEXED BY calls_number_time2"
                f" WHERE {cond} AND number_called = ? UNION SELECT call_id FROM calls"
                f" INDEXED BY calls_caller_time2 WHERE {cond} AND caller = ?)"
            )
            params = [*args, number, *args, number]
        return int(self._read(sql, params)[0][0])

    # ------------------------------------------------------------------ activities

    def add_activity(self, item: ActivityItem | dict[str, Any]) -> bool:
        act = as_activity(item)
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO activities (id, tenant_id, user_id, kind, created_us, read, archived, doc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (
                    act.id,
                    act.tenant_id,
                    act.user_id,
                    scalar(act.kind),
                    to_us(act.created_at),
                    int(act.read),
                    int(act.archived),
                    act.model_dump_json(),
                ),
            )
            if cur.rowcount == 0:
                (owner,) = conn.execute("SELECT tenant_id FROM activities WHERE id = ?", (act.id,)).fetchone()
                if owner != act.tenant_id:
                    raise ConflictError(f"activity/{act.id}", "activity id already used by another tenant")
                return False
        return True

    def get_activity(self, tenant_id: str, user_id: str, activity_id: str) -> ActivityItem | None:
        rows = self._read(
            "SELECT doc FROM activities WHERE id = ? AND tenant_id = ? AND user_id = ?",
            (activity_id, tenant_id, user_id),
        )
        return ActivityItem.model_validate_json(rows[0][0]) if rows else None

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
        where, args = ["tenant_id = ?", "user_id = ?"], [tenant_id, user_id]
        if read is not None:
            where.append("read = ?")
            args.append(int(read))
        if archived is not None:
            where.append("archived = ?")
            args.append(int(archived))
        if kind is not None:
            where.append("kind = ?")
            args.append(scalar(kind))
        if cursor is not None:
            after_us, after_id = decode_cursor(cursor, fingerprint)
            where.append("(created_us, id) < (?, ?)")
            args += [after_us, after_id]
        rows = self._read(
            f"SELECT doc, created_us, id FROM activities WHERE {' AND '.join(where)}"
            " ORDER BY created_us DESC, id DESC LIMIT ?",
            [*args, limit + 1],
        )
        more = len(rows) > limit
        rows = rows[:limit]
        items = [ActivityItem.model_validate_json(doc) for doc, _, _ in rows]
        next_cursor = encode_cursor(fingerprint, rows[-1][1], rows[-1][2]) if more else None
        return Page(items, next_cursor)

    def count_activities(
        self,
        tenant_id: str,
        user_id: str,
        *,
        read: bool | None = None,
        archived: bool | None = False,
        kind: str | None = None,
    ) -> int:
        where, args = ["tenant_id = ?", "user_id = ?"], [tenant_id, user_id]
        if kind is not None:
            where.append("kind = ?")
            args.append(scalar(kind))
        if read is not None:
            where.append("read = ?")
            args.append(int(read))
        if archived is not None:
            where.append("archived = ?")
            args.append(int(archived))
        index = "activities_kind_unread" if kind is not None else "activities_unread"
        rows = self._read(
            f"SELECT count(*) FROM activities INDEXED BY {index} WHERE {' AND '.join(where)}", args
        )
        return int(rows[0][0])

    def update_activity(
        self,
        tenant_id: str,
        user_id: str,
        activity_id: str,
        *,
        read: bool | None = None,
        archived: bool | None = None,
    ) -> ActivityItem:
        key = (activity_id, tenant_id, user_id)
        with self._write() as conn:
            row = conn.execute(
                "SELECT doc FROM activities WHERE id = ? AND tenant_id = ? AND user_id = ?", key
            ).fetchone()
            if row is None:
                raise NotFoundError(f"activity {activity_id}")
            act = ActivityItem.model_validate_json(row[0])
            changes = {k: v for k, v in (("read", read), ("archived", archived)) if v is not None}
            if changes:
                act = ActivityItem.model_validate({**act.model_dump(), **changes})
                conn.execute(
                    "UPDATE activities SET read = ?, archived = ?, doc = ?"
                    " WHERE id = ? AND tenant_id = ? AND user_id = ?",
                    (int(act.read), int(act.archived), act.model_dump_json(), *key),
                )
        return act

    def delete_activity(self, tenant_id: str, user_id: str, activity_id: str) -> bool:
        with self._write() as conn:
            cur = conn.execute(
                "DELETE FROM activities WHERE id = ? AND tenant_id = ? AND user_id = ?",
                (activity_id, tenant_id, user_id),
            )
        return cur.rowcount > 0

    def mark_all_read(self, tenant_id: str, user_id: str) -> int:
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE activities SET read = 1, doc = json_set(doc, '$.read', json('true'))"
                " WHERE tenant_id = ? AND user_id = ? AND read = 0",
                (tenant_id, user_id),
            )
        return cur.rowcount

    def unread_count(self, tenant_id: str, user_id: str) -> int:
        rows = self._read(
            "SELECT count(*) FROM activities"
            " WHERE tenant_id = ? AND user_id = ? AND read = 0 AND archived = 0",
            (tenant_id, user_id),
        )
        return int(rows[0][0])

    # ------------------------------------------------------------------ stats

    def get_stats(self, tenant_id: str, from_day: dt.date, to_day: dt.date) -> list[DailyStats]:
        days = check_day_range(from_day, to_day)
        rows = self._read(
            "SELECT day, metric, value FROM stats_daily WHERE tenant_id = ? AND day >= ? AND day <= ?",
            (tenant_id, from_day.isoformat(), to_day.isoformat()),
        )
        metrics: dict[dt.date, dict[str, int]] = {}
        for day, metric, value in rows:
            metrics.setdefault(dt.date.fromisoformat(day), {})[metric] = value
        return fill_series(days, {day: daily_from_metrics(day, m) for day, m in metrics.items()})

    # ------------------------------------------------------------------ lifecycle

    def delete_tenant(self, tenant_id: str) -> dict[str, int]:
        deleted: dict[str, int] = {}
        for table in ("calls", "activities", "stats_daily"):
            total = 0
            while True:  # small batches keep each write transaction short
                with self._write() as conn:
                    cur = conn.execute(
                        f"DELETE FROM {table} WHERE rowid IN"
                        f" (SELECT rowid FROM {table} WHERE tenant_id = ? LIMIT {DELETE_BATCH})",
                        (tenant_id,),
                    )
                total += cur.rowcount
                if cur.rowcount < DELETE_BATCH:
                    break
            deleted[table] = total
        log_event("history.tenant_deleted", tenant_id=tenant_id, deleted=deleted)
        return deleted
