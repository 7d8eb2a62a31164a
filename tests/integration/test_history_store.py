"""The History DB contract, run against every adapter.

SQLite always runs. MongoDB runs whenever `MONGODB_URI` is set (each test uses a fresh database
that is dropped afterwards) and is skipped otherwise: no MongoDB server can be installed here.
Concurrency tests start real second processes (`tests/integration/history_writer.py`).
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from infra.local.ports import free_port
from shared.adapters.history import default_sqlite_path, open_history_store
from shared.adapters.history.codec import to_us
from shared.adapters.history.sqlite_store import SqliteHistoryStore
from shared.errors import ConflictError, NotFoundError, Unavailable
from shared.history.models.call import ActivityItem, CallRecord, PathStep
from shared.history.ports import DailyStats, HistoryStore, InvalidCursor
from shared.settings import Settings

REPO = Path(__file__).resolve().parents[2]
MONGODB_URI = os.environ.get("MONGODB_URI", "")
T0 = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


@dataclass
class Backend:
    name: str
    open: Callable[[], HistoryStore]
    writer_args: list[str]  # how history_writer.py opens the same database


@pytest.fixture(params=["sqlite", "mongo"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    opened: list[HistoryStore] = []

    def track(make: Callable[[], HistoryStore]) -> Callable[[], HistoryStore]:
        def open_() -> HistoryStore:
            store = make()
            opened.append(store)
            return store

        return open_

    if request.param == "sqlite":
        path = tmp_path / "history.sqlite3"
        yield Backend("sqlite", track(lambda: SqliteHistoryStore(path)), ["--sqlite", str(path)])
    else:
        if not MONGODB_URI:
            pytest.skip("MONGODB_URI is not set: no MongoDB server to test against")
        from shared.adapters.history.mongo_store import MongoHistoryStore

        database = f"history_test_{uuid.uuid4().hex[:12]}"
        yield Backend(
            "mongo",
            track(lambda: MongoHistoryStore(MONGODB_URI, database=database)),
            ["--mongo", MONGODB_URI, "--database", database],
        )
        cleanup = MongoHistoryStore(MONGODB_URI, database=database)
        cleanup.client.drop_database(database)
        cleanup.close()
    for store in opened:
        store.close()


@pytest.fixture
def store(backend: Backend) -> HistoryStore:
    return backend.open()


def call(
    tenant: str,
    call_id: str,
    started: dt.datetime,
    *,
    disposition: str = "answered",
    talk: int = 60,
    user_id: str | None = "U1",
    number_called: str = "+15550000001",
    caller: str = "+15551112222",
    direction: str = "inbound",
    voicemail_blob: str | None = None,
) -> CallRecord:
    answered = started + dt.timedelta(seconds=3) if disposition == "answered" else None
    return CallRecord(
        call_id=call_id,
        tenant_id=tenant,
        number_called=number_called,
        caller=caller,
        direction=direction,  # type: ignore[arg-type]
        started_at=started,
        answered_at=answered,
        ended_at=(answered or started) + dt.timedelta(seconds=talk),
        disposition=disposition,  # type: ignore[arg-type]
        user_id=user_id,
        voicemail_blob=voicemail_blob,
    )


def activity(
    tenant: str, item_id: str, created: dt.datetime, *, user_id: str = "U1", kind: str = "missed_call"
) -> ActivityItem:
    return ActivityItem(
        id=item_id,
        tenant_id=tenant,
        user_id=user_id,
        kind=kind,  # type: ignore[arg-type]
        created_at=created,
        title=f"{kind} {item_id}",
        data={"n": item_id},
    )


def all_calls(store: HistoryStore, tenant: str, limit: int = 7, **filters: Any) -> list[CallRecord]:
    out: list[CallRecord] = []
    cursor = None
    while True:
        items, cursor = store.list_calls(tenant, limit=limit, cursor=cursor, **filters)
        out += items
        if cursor is None:
            return out


def key(c: CallRecord) -> tuple[int, str]:
    return to_us(c.started_at), c.call_id


# --------------------------------------------------------------------------- calls


def test_put_call_is_idempotent_and_round_trips(store: HistoryStore) -> None:
    rec = call("T1", "C1", T0, voicemail_blob="T1/vm/C1.wav")
    rec.path = [PathStep(menu_id="M1", input="1", action="go_menu", target="M2")]
    assert store.put_call(rec) is True
    assert store.put_call(rec) is False
    assert store.put_call(rec.model_dump(mode="json")) is False  # a dict is validated at the edge
    assert store.get_call("T1", "C1") == rec
    assert [c.call_id for c in store.list_calls("T1").items] == ["C1"]
    [day] = store.get_stats("T1", T0.date(), T0.date())
    assert day.calls == 1 and day.voicemails == 1


def test_microsecond_times_survive(store: HistoryStore) -> None:
    started = T0.replace(microsecond=123456)
    store.put_call(call("T1", "C1", started))
    got = store.get_call("T1", "C1")
    assert got is not None and got.started_at == started


def test_bad_records_are_rejected_at_the_edge(store: HistoryStore) -> None:
    with pytest.raises(ValidationError):
        store.put_call({"call_id": "C1", "tenant_id": "T1"})  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        store.add_activity({"id": "A1", "tenant_id": "T1", "kind": "nope", "created_at": T0})  # type: ignore[arg-type]
    assert store.list_calls("T1").items == []


def test_replace_call_keeps_stats(store: HistoryStore) -> None:
    rec = call("T1", "C1", T0, voicemail_blob="T1/vm/C1.wav")
    store.put_call(rec)
    store.replace_call(rec.model_copy(update={"voicemail_blob": None}))
    got = store.get_call("T1", "C1")
    assert got is not None and got.voicemail_blob is None
    assert store.get_stats("T1", T0.date(), T0.date())[0].voicemails == 1
    with pytest.raises(NotFoundError):
        store.replace_call(call("T1", "nope", T0))
    with pytest.raises(NotFoundError):
        store.replace_call(call("T2", "C1", T0))  # another tenant's id


def test_list_calls_orders_newest_first_with_call_id_tiebreak_and_pages(store: HistoryStore) -> None:
    recs = [call("T1", f"C{i:03d}", T0 + dt.timedelta(seconds=i // 3)) for i in range(40)]  # 3 per second
    for rec in reversed(recs):
        store.put_call(rec)
    expected = sorted(recs, key=key, reverse=True)
    assert all_calls(store, "T1", limit=7) == expected
    assert all_calls(store, "T1", limit=40) == expected
    page = store.list_calls("T1", limit=40)
    assert page.next_cursor is None  # exactly one full page: no empty page after it
    first, cursor = store.list_calls("T1", limit=39)
    assert first == expected[:39]
    assert cursor is not None and store.list_calls("T1", cursor=cursor).items == expected[39:]


def test_list_calls_filters(store: HistoryStore) -> None:
    store.put_call(call("T1", "A", T0, user_id="U1"))
    store.put_call(call("T1", "B", T0 + dt.timedelta(hours=1), disposition="missed", user_id="U2"))
    store.put_call(call("T1", "C", T0 + dt.timedelta(hours=2), direction="outbound", caller="+15553334444"))
    store.put_call(
        call("T1", "D", T0 + dt.timedelta(hours=3), disposition="voicemail", number_called="+15559990000")
    )

    def ids(**filters: Any) -> list[str]:
        return [c.call_id for c in all_calls(store, "T1", limit=2, **filters)]

    assert ids() == ["D", "C", "B", "A"]
    assert ids(since=T0 + dt.timedelta(hours=1)) == ["D", "C", "B"]
    assert ids(until=T0 + dt.timedelta(hours=1)) == ["A"]  # half-open
    assert ids(since=T0 + dt.timedelta(minutes=30), until=T0 + dt.timedelta(hours=3)) == ["C", "B"]
    assert ids(user_id="U2") == ["B"]
    assert ids(number="+15559990000") == ["D"]  # the number called
    assert ids(number="+15553334444") == ["C"]  # or the caller
    assert ids(direction="outbound") == ["C"]
    assert ids(disposition="missed") == ["B"]
    assert ids(disposition="answered", user_id="U1") == ["C", "A"]
    assert ids(user_id="nobody") == []


def test_count_calls_matches_the_listing(store: HistoryStore) -> None:
    store.put_call(call("T1", "A", T0, user_id="U1"))
    store.put_call(call("T1", "B", T0 + dt.timedelta(hours=1), disposition="missed", user_id="U2"))
    store.put_call(call("T1", "C", T0 + dt.timedelta(hours=2), direction="outbound", caller="+15553334444"))
    store.put_call(
        call("T1", "D", T0 + dt.timedelta(hours=3), disposition="voicemail", number_called="+15559990000")
    )
    store.put_call(call("T1", "E", T0 + dt.timedelta(hours=4), disposition="missed", user_id="U2"))
    # number called and caller both the same number: one call, counted once
    store.put_call(
        call("T1", "F", T0 + dt.timedelta(hours=5), number_called="+15557777777", caller="+15557777777")
    )
    store.put_call(call("T2", "X", T0, disposition="missed", user_id="U2"))  # another tenant
    filters: list[dict[str, Any]] = [
        {},
        {"since": T0 + dt.timedelta(hours=1)},
        {"until": T0 + dt.timedelta(hours=1)},
        {"since": T0 + dt.timedelta(minutes=30), "until": T0 + dt.timedelta(hours=3)},
        {"user_id": "U2"},
        {"user_id": "U2", "disposition": "missed"},
        {"user_id": "U2", "disposition": "missed", "since": T0 + dt.timedelta(hours=2)},
        {"number": "+15559990000"},
        {"number": "+15553334444"},
        {"number": "+15557777777"},
        {"number": "+15550000001", "since": T0 + dt.timedelta(hours=2), "until": T0 + dt.timedelta(hours=4)},
        {"direction": "outbound"},
        {"disposition": "missed"},
        {"disposition": "voicemail", "since": T0, "until": T0 + dt.timedelta(days=1)},
        {"disposition": "answered", "direction": "inbound"},
        {"user_id": "nobody"},
    ]
    for f in filters:
        assert store.count_calls("T1", **f) == len(all_calls(store, "T1", limit=2, **f)), f
    assert store.count_calls("T1") == 6
    assert store.count_calls("T1", disposition="missed") == 2
    assert store.count_calls("T1", number="+15557777777") == 1
    assert store.count_calls("T2") == 1 and store.count_calls("T3") == 0
    store.put_call(call("T1", "A", T0, user_id="U1"))  # a replay adds nothing
    assert store.count_calls("T1") == 6


def test_count_activities_matches_the_listing(store: HistoryStore) -> None:
    for i in range(6):
        store.add_activity(activity("T1", f"V{i}", T0 + dt.timedelta(minutes=i), kind="voicemail"))
        store.add_activity(activity("T1", f"M{i}", T0 + dt.timedelta(minutes=i)))
    store.add_activity(activity("T1", "OTHER", T0, user_id="U2", kind="voicemail"))
    store.add_activity(activity("T2", "T2V", T0, kind="voicemail"))
    store.update_activity("T1", "U1", "V0", read=True)
    store.update_activity("T1", "U1", "V1", archived=True)
    store.update_activity("T1", "U1", "M0", read=True, archived=True)
    combos: list[dict[str, Any]] = [
        {},
        {"archived": None},
        {"archived": True},
        {"read": False},
        {"read": True, "archived": None},
        {"kind": "voicemail"},
        {"kind": "voicemail", "read": False, "archived": None},
        {"kind": "voicemail", "read": True},
        {"kind": "missed_call", "archived": None},
    ]
    for f in combos:
        listed = 0
        cursor = None
        while True:
            items, cursor = store.list_activities("T1", "U1", limit=4, cursor=cursor, **f)
            listed += len(items)
            if cursor is None:
                break
        assert store.count_activities("T1", "U1", **f) == listed, f
    assert store.count_activities("T1", "U1", kind="voicemail", read=False, archived=None) == 5
    assert store.count_activities("T1", "U1") == store.unread_count("T1", "U1") + 1  # V0 read
    assert store.count_activities("T1", "U2", kind="voicemail", archived=None) == 1
    assert store.count_activities("T2", "U1", kind="voicemail") == 1
    assert store.count_activities("T3", "U1") == 0


def test_bad_arguments(store: HistoryStore) -> None:
    for limit in (0, -1, 10_000):
        with pytest.raises(ValueError):
            store.list_calls("T1", limit=limit)
    with pytest.raises(ValueError):
        store.list_calls("T1", since=dt.datetime(2024, 1, 1))  # naive
    for garbage in ("", "x", "!!!!", "eyJ2IjoxfQ", "a" * 600):
        with pytest.raises(InvalidCursor):
            store.list_calls("T1", cursor=garbage)
    for i in range(3):
        store.put_call(call("T1", f"C{i}", T0 + dt.timedelta(minutes=i)))
    cursor = store.list_calls("T1", limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidCursor):
        store.list_calls("T1", cursor=cursor, disposition="missed")  # other filters
    store.list_calls("T1", cursor=cursor, limit=5)  # another page size is fine
    with pytest.raises(ValueError):
        store.get_stats("T1", T0.date(), T0.date() - dt.timedelta(days=1))
    with pytest.raises(ValueError):
        store.get_stats("T1", dt.date(2000, 1, 1), dt.date(2024, 1, 1))


# --------------------------------------------------------------------------- stats


def test_stats_count_each_call_once_per_utc_day(store: HistoryStore) -> None:
    day1 = T0.date()
    store.put_call(call("T1", "C1", T0, talk=61))  # 2 minutes billed
    store.put_call(call("T1", "C2", T0 + dt.timedelta(hours=1), talk=30))  # 1 minute
    store.put_call(call("T1", "C3", T0, disposition="missed", talk=20))
    store.put_call(call("T1", "C4", T0, disposition="voicemail", voicemail_blob="T1/vm/C4.wav"))
    store.put_call(call("T1", "C5", T0 + dt.timedelta(hours=12), direction="outbound"))  # next UTC day
    for rec_id in ("C1", "C2", "C3", "C4"):  # replays change nothing
        rec = store.get_call("T1", rec_id)
        assert rec is not None and store.put_call(rec) is False
    first, second, third = store.get_stats("T1", day1, day1 + dt.timedelta(days=2))
    assert first == DailyStats(
        day=day1,
        calls=4,
        minutes=3,
        seconds=91,
        voicemails=1,
        by_disposition={"answered": 2, "missed": 1, "voicemail": 1},
        by_direction={"inbound": 4},
    )
    assert second.day == day1 + dt.timedelta(days=1)
    assert (second.calls, second.minutes, second.by_direction) == (1, 1, {"outbound": 1})
    assert third == DailyStats(day=day1 + dt.timedelta(days=2))  # zero-filled
    assert store.get_stats("T2", day1, day1) == [DailyStats(day=day1)]


# --------------------------------------------------------------------------- activities


def test_activities_feed(store: HistoryStore) -> None:
    for i in range(12):
        assert store.add_activity(activity("T1", f"A{i:02d}", T0 + dt.timedelta(minutes=i))) is True
    assert store.add_activity(activity("T1", "A00", T0)) is False  # idempotent by event id
    store.add_activity(activity("T1", "OTHER", T0, user_id="U2"))
    assert store.unread_count("T1", "U1") == 12

    def ids(**filters: Any) -> list[str]:
        out, cursor = [], None
        while True:
            items, cursor = store.list_activities("T1", "U1", limit=5, cursor=cursor, **filters)
            out += [a.id for a in items]
            if cursor is None:
                return out

    assert ids() == [f"A{i:02d}" for i in reversed(range(12))]
    read = store.update_activity("T1", "U1", "A03", read=True)
    assert read.read is True and read.archived is False and read.data == {"n": "A03"}
    store.update_activity("T1", "U1", "A04", archived=True)
    assert store.unread_count("T1", "U1") == 10
    assert "A04" not in ids()  # archived items are hidden by default
    assert ids(archived=True) == ["A04"]
    assert ids(read=True) == ["A03"]
    assert len(ids(archived=None)) == 12
    assert len(ids(read=False, archived=None)) == 11 and "A04" in ids(read=False, archived=None)
    assert ids(kind="voicemail") == []
    unchanged = store.update_activity("T1", "U1", "A05")
    assert unchanged.read is False
    assert store.mark_all_read("T1", "U1") == 11  # the archived unread one too
    assert store.mark_all_read("T1", "U1") == 0
    assert store.unread_count("T1", "U1") == 0
    got = store.get_activity("T1", "U1", "A07")
    assert got is not None and got.read is True and got.title == "missed_call A07"
    assert store.unread_count("T1", "U2") == 1  # another user's feed is untouched
    with pytest.raises(NotFoundError):
        store.update_activity("T1", "U1", "OTHER", read=True)  # U2's item
    assert store.delete_activity("T1", "U1", "A07") is True
    assert store.delete_activity("T1", "U1", "A07") is False
    assert store.get_activity("T1", "U1", "A07") is None


# --------------------------------------------------------------------------- tenants


def test_tenant_isolation(store: HistoryStore) -> None:
    for i in range(3):
        store.put_call(call("T1", f"C{i}", T0 + dt.timedelta(minutes=i)))
    store.add_activity(activity("T1", "A1", T0))
    assert store.get_call("T2", "C0") is None
    assert store.list_calls("T2").items == []
    assert store.get_activity("T2", "U1", "A1") is None
    assert store.list_activities("T2", "U1").items == []
    assert store.unread_count("T2", "U1") == 0
    assert store.mark_all_read("T2", "U1") == 0
    assert store.delete_activity("T2", "U1", "A1") is False
    with pytest.raises(NotFoundError):
        store.update_activity("T2", "U1", "A1", read=True)
    with pytest.raises(ConflictError):
        store.put_call(call("T2", "C0", T0))  # cannot take over another tenant's call id
    with pytest.raises(ConflictError):
        store.add_activity(activity("T2", "A1", T0))
    cursor = store.list_calls("T1", limit=1).next_cursor
    assert cursor is not None
    with pytest.raises(InvalidCursor):
        store.list_calls("T2", cursor=cursor)
    assert store.get_stats("T2", T0.date(), T0.date())[0].calls == 0
    # T1 is untouched by all of the above
    assert store.unread_count("T1", "U1") == 1
    assert [c.tenant_id for c in all_calls(store, "T1")] == ["T1"] * 3
    assert store.get_stats("T1", T0.date(), T0.date())[0].calls == 3


def test_delete_tenant_removes_only_that_tenant(store: HistoryStore) -> None:
    for i in range(1203):  # more than one delete batch
        store.put_call(call("T1", f"C{i}", T0 + dt.timedelta(seconds=i)))
    store.add_activity(activity("T1", "A1", T0))
    store.put_call(call("T2", "K1", T0))
    store.add_activity(activity("T2", "B1", T0))
    deleted = store.delete_tenant("T1")
    assert deleted["calls"] == 1203 and deleted["activities"] == 1 and deleted["stats_daily"] >= 1
    assert store.list_calls("T1").items == [] and store.get_call("T1", "C0") is None
    assert store.list_activities("T1", "U1", archived=None).items == []
    assert store.get_stats("T1", T0.date(), T0.date())[0].calls == 0
    assert store.delete_tenant("T1") == {"calls": 0, "activities": 0, "stats_daily": 0}  # repeatable
    assert store.get_call("T2", "K1") is not None and store.unread_count("T2", "U1") == 1
    assert store.get_stats("T2", T0.date(), T0.date())[0].calls == 1


# --------------------------------------------------------------------------- several processes


def start_writer(backend: Backend, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.history_writer", *backend.writer_args, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    assert "locked" not in err.lower()
    return out


def test_pagination_is_stable_while_another_process_inserts(backend: Backend, store: HistoryStore) -> None:
    # 300 calls in the hour after T0, 3 per timestamp so the call id tiebreak matters
    initial = [call("T1", f"I{i:04d}", T0 + dt.timedelta(seconds=12 * (i // 3))) for i in range(300)]
    for rec in initial:
        store.put_call(rec)
    # the writer inserts 400 calls spread over an hour before T0 to an hour after the newest,
    # so some land ahead of the reader's position and some behind it
    writer = start_writer(
        backend,
        "--tenant", "T1", "--prefix", "W", "--count", "400", "--interval", "0.002",
        "--base-us", str(to_us(T0 - dt.timedelta(hours=1))), "--span-us", str(3 * 3600 * 10**6),
    )  # fmt: skip
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
        seen: list[CallRecord] = []
        cursor = None
        count_at_start = len(all_calls(store, "T1", limit=500))
        while True:
            items, cursor = store.list_calls("T1", limit=9, cursor=cursor)
            seen += items
            if cursor is None:
                break
            time.sleep(0.01)
        count_at_end = len(all_calls(store, "T1", limit=500))
    finally:
        out = finish(writer)
    assert "done 400" in out
    assert count_at_end > count_at_start, "the writer did not overlap the paging"
    ids = [c.call_id for c in seen]
    assert len(ids) == len(set(ids)), "a call was returned twice"
    assert {r.call_id for r in initial} <= set(ids), "a call present from the start was skipped"
    keys = [key(c) for c in seen]
    assert keys == sorted(keys, reverse=True)
    assert all(i.startswith(("I", "W")) for i in ids)
    assert len(all_calls(store, "T1", limit=500)) == 700


def test_two_processes_write_at_once(backend: Backend, store: HistoryStore) -> None:
    n = 250
    writers = [
        start_writer(backend, "--tenant", "T1", "--prefix", prefix, "--count", str(n), "--seed", str(seed))
        for seed, prefix in enumerate(("P", "Q"))
    ]
    # this process reads and writes meanwhile too
    extra = 0
    while any(w.poll() is None for w in writers):
        store.list_calls("T1", limit=20)
        store.unread_count("T1", "U1")
        store.put_call(call("T1", f"R{extra:04d}", T0 + dt.timedelta(seconds=extra)))
        extra += 1
    for w in writers:
        assert f"done {n}" in finish(w)
    total = 2 * n + extra
    assert len(all_calls(store, "T1", limit=500)) == total
    assert store.unread_count("T1", "U1") == 2 * n
    days = store.get_stats("T1", T0.date() - dt.timedelta(days=1), T0.date() + dt.timedelta(days=1))
    assert sum(d.calls for d in days) == total
    assert sum(d.by_disposition.get("answered", 0) for d in days) == total


def test_replaying_from_another_process_does_not_double_count(backend: Backend, store: HistoryStore) -> None:
    first = start_writer(backend, "--tenant", "T1", "--prefix", "P", "--count", "50")
    replay = start_writer(backend, "--tenant", "T1", "--prefix", "P", "--count", "50")  # same ids, same seed
    finish(first)
    finish(replay)
    assert len(all_calls(store, "T1", limit=500)) == 50
    assert store.unread_count("T1", "U1") == 50
    assert sum(d.calls for d in store.get_stats("T1", T0.date(), T0.date() + dt.timedelta(days=1))) == 50


# --------------------------------------------------------------------------- adapter specifics


def test_sqlite_lock_held_past_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = SqliteHistoryStore(path, busy_timeout_ms=200)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer that does not let go
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            store.put_call(call("T1", "C1", T0))
        assert time.monotonic() - started < 5
        assert store.list_calls("T1").items == []  # readers are not blocked by the writer (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.put_call(call("T1", "C1", T0)) is True
    store.close()


def test_sqlite_file_is_wal(tmp_path: Path) -> None:
    store = SqliteHistoryStore(tmp_path / "sub" / "h.sqlite3")
    store.put_call(call("T1", "C1", T0))
    store.close()
    conn = sqlite3.connect(tmp_path / "sub" / "h.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_sqlite_counts_read_only_an_index(tmp_path: Path) -> None:
    """Every count the adapter runs is answered from one index (a covering index where the
    filters are all indexed columns), never by scanning the table."""
    path = tmp_path / "h.sqlite3"
    store = SqliteHistoryStore(path)
    plans: list[str] = []
    conn = store._conn()
    real_read = store._read

    def explaining(sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
        plans.append(" | ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args)))
        return real_read(sql, args)

    store._read = explaining  # type: ignore[method-assign]
    day = (T0, T0 + dt.timedelta(days=1))
    store.count_calls("T1", since=day[0], until=day[1])
    store.count_calls("T1", since=day[0], until=day[1], disposition="missed")
    store.count_calls("T1", since=day[0], until=day[1], user_id="U1")
    store.count_calls("T1", since=day[0], until=day[1], user_id="U1", disposition="missed")
    store.count_activities("T1", "U1", kind="voicemail", read=False, archived=None)
    store.count_activities("T1", "U1", read=False)
    for plan in plans:
        assert "COVERING INDEX" in plan, plan
        assert "SCAN" not in plan, plan
    plans.clear()
    store.count_calls("T1", number="+15550000001")
    assert plans[0].count("USING COVERING INDEX calls_number_time2") == 1, plans[0]
    assert "calls_caller_time2" in plans[0], plans[0]
    store.close()


def test_sqlite_migrates_an_older_schema(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    SqliteHistoryStore(path).close()
    conn = sqlite3.connect(path)  # back to schema 2: without the indexes schema 3 added
    conn.execute("DROP INDEX calls_user_disposition_time")
    conn.execute("DROP INDEX activities_kind_unread")
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    store = SqliteHistoryStore(path)
    store.put_call(call("T1", "C1", T0, disposition="missed"))
    assert store.count_calls("T1", user_id="U1", disposition="missed") == 1
    store.close()
    conn = sqlite3.connect(path)
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"calls_user_disposition_time", "activities_kind_unread"} <= names
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 3
    conn.close()


def test_factory_chooses_the_adapter(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, mongodb_uri=None)
    store = open_history_store(settings)
    assert isinstance(store, SqliteHistoryStore)
    assert store.path == default_sqlite_path(tmp_path) == tmp_path / "history" / "history.sqlite3"
    store.close()
    other = open_history_store(None, tmp_path / "x.sqlite3")
    assert isinstance(other, SqliteHistoryStore)
    other.close()
    with pytest.raises(ValueError):
        open_history_store("postgres://nope")
    with pytest.raises(ValueError):
        open_history_store(None)


def test_unreachable_mongodb_is_unavailable(tmp_path: Path) -> None:
    from shared.adapters.history.mongo_store import MongoHistoryStore

    port = free_port()  # a port nobody listens on
    with pytest.raises(Unavailable):
        MongoHistoryStore(f"mongodb://127.0.0.1:{port}/x", server_selection_timeout_ms=300)
    with pytest.raises(Unavailable):  # the factory picks MongoDB when the settings carry a URI
        open_history_store(Settings(mongodb_uri=f"mongodb://127.0.0.1:{port}/x"), tmp_path / "unused.sqlite3")
    assert not (tmp_path / "unused.sqlite3").exists()


@pytest.mark.skipif(not MONGODB_URI, reason="MONGODB_URI is not set: no MongoDB server to test against")
def test_mongo_creates_its_indexes() -> None:
    from shared.adapters.history.mongo_store import MongoHistoryStore

    database = f"history_test_{uuid.uuid4().hex[:12]}"
    mongo = MongoHistoryStore(MONGODB_URI, database=database)
    try:
        calls = mongo.calls.index_information()
        assert calls["call_id_unique"]["unique"] is True
        assert calls["tenant_time"]["key"] == [("tenant_id", 1), ("started_us", -1), ("call_id", -1)]
        assert calls["user_time"]["key"][:3] == [("tenant_id", 1), ("user_id", 1), ("started_us", -1)]
        assert calls["user_disposition_time"]["key"][:4] == [
            ("tenant_id", 1),
            ("user_id", 1),
            ("disposition", 1),
            ("started_us", -1),
        ]
        activities = mongo.activities.index_information()
        assert activities["id_unique"]["unique"] is True
        assert activities["user_kind_read"]["key"][:4] == [
            ("tenant_id", 1),
            ("user_id", 1),
            ("kind", 1),
            ("read", 1),
        ]
        # the dashboard's counts walk these indexes rather than the collection
        winning = mongo.db.command(
            "explain",
            {
                "count": "calls",
                "query": {"tenant_id": "T1", "disposition": "missed", "started_us": {"$gte": 0, "$lt": 10}},
            },
        )["queryPlanner"]["winningPlan"]
        plan = str(winning)
        assert "COLLSCAN" not in plan and ("IXSCAN" in plan or "COUNT_SCAN" in plan), plan
    finally:
        mongo.client.drop_database(database)
        mongo.close()


def test_sqlite_put_calls_is_put_call_in_one_transaction(tmp_path: Path) -> None:
    store = SqliteHistoryStore(tmp_path / "h.sqlite3")
    day = T0.date()
    batch = [
        call("T1", "B1", T0, talk=61),
        call("T1", "B2", T0 + dt.timedelta(hours=1), disposition="missed"),
        call(
            "T1",
            "B3",
            T0 + dt.timedelta(days=1),
            disposition="voicemail",
            voicemail_blob="voicemail/T1/x.wav",
        ),
    ]
    assert store.put_calls(batch) == 3
    assert store.put_calls(batch) == 0  # a replay adds nothing and counts nothing
    one_by_one = SqliteHistoryStore(tmp_path / "other.sqlite3")
    for c in batch:
        one_by_one.put_call(c)
    span = (day, day + dt.timedelta(days=1))
    assert store.get_stats("T1", *span) == one_by_one.get_stats("T1", *span)
    assert [c.call_id for c in all_calls(store, "T1")] == ["B3", "B2", "B1"]
    with pytest.raises(ConflictError):  # B1 belongs to T1: the whole batch rolls back
        store.put_calls([call("T2", "B4", T0), call("T2", "B1", T0)])
    assert store.get_call("T2", "B4") is None and store.count_calls("T2") == 0
    store.close()
    one_by_one.close()
