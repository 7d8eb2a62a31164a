"""History DB benchmark: insert rate, first-page latency of a tenant's calls in the store, the
dashboard's counts, and a filtered `GET /api/v1/calls` page and `GET /api/v1/dashboard` through
the real API; prints one table, with the target beside the rows that have one.

    .venv/bin/python bench/history.py [--records 1000000] [--today 100000] [--tenants 1]
                                      [--queries 300] [--no-api]

Runs against the embedded SQLite store, and also against MongoDB when MONGODB_URI is set (a
scratch database, dropped afterwards). Records are spread over `--tenants` tenants and 30 days;
the measured tenant owns 1/tenants of them (by default all 1,000,000), and `--today` of its
records started today (UTC, the signed-up tenant's time zone) before now, for the dashboard.
The first 10,000 records go in with one `put_call` each (one transaction, with its stats
upsert), the way the edge writes them, which gives the insert rate; the rest are seeded through
the adapter's `put_calls`, 5,000 per transaction (MongoDB, which has no batch call: `put_call`).
Records are built from a validated template with `model_copy`, so generating them costs little
next to storing them. The store rows time the store call itself (`list_calls`, validated
models out; the dashboard's five counts).

The API rows (unless `--no-api`) start the real local stack (`infra.local.stack.LocalStack`:
Azurite, a 3-node ConfigDB shard, the SMTP catcher and the functions host), sign up a verified
tenant through the API, and make it the measured tenant:
- SQLite: the records go into the stack's own History file (DATA_DIR), which the functions host
  serves; requests go over HTTP to its uvicorn worker, one keep-alive client, sequentially.
- MongoDB: the host cannot be pointed at the scratch database, so the API is `create_app()` on
  the stack's settings (the real ConfigDB shard and Azurite) with the scratch store on
  `create_app(settings, history=...)`, called in-process through `httpx.ASGITransport`.
Each request carries the owner's bearer token, so the latency includes token checks, the
home-region lookup (cached), the store query and the JSON response. The owner also gets
`ACTIVITIES` feed items (voicemails and missed calls, some read) for the dashboard to count.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.configdb import pct
from shared.adapters.history import default_sqlite_path
from shared.adapters.history.sqlite_store import SqliteHistoryStore
from shared.history.models.call import ActivityItem, CallRecord, Leg, PathStep, RtpQuality
from shared.history.ports import HistoryStore

T_END = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
DISPOSITIONS = ["answered"] * 6 + ["missed"] * 2 + ["voicemail", "abandoned"]
SINGLE = 10_000  # records stored with one put_call each (the insert-rate row)
BATCH = 5_000  # records per put_calls transaction for the rest
ACTIVITIES = 2_000
CALLS_TARGET = "p99 <= 50 ms at 1,000,000 records"
DASHBOARD_TARGET = "p99 <= 20 ms at 100,000 calls today"

_LEG = Leg(
    leg_id="L0",
    kind="forward",
    destination="+15557654321",
    started_at=T_END,
    ended_at=T_END,
    outcome="answered",
    sip_status=200,
    quality=RtpQuality(packets_rx=1000, packets_tx=1000, lost=3, loss_pct=0.3, mos=4.2),
)
_CALL = CallRecord(
    call_id="template",
    tenant_id="T0",
    number_called="+15550000000",
    caller="+15550000000",
    path=[PathStep(menu_id="M1", input="1", action="transfer_user", target="U1")],
    legs=[_LEG],
    started_at=T_END,
    ended_at=T_END,
    disposition="answered",
)


def today_window(now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """[UTC midnight, now): where the dashboard's "today" records go."""
    return now.replace(hour=0, minute=0, second=0, microsecond=0), now


def record_batches(
    n: int,
    tenants: int,
    *,
    measured: str = "T0",
    today: int = 0,
    now: dt.datetime | None = None,
    seed: int = 7,
    batch: int = BATCH,
) -> Iterator[list[CallRecord]]:
    """`n` calls over `tenants` tenants, in lists of `batch`; the first tenant (the measured one)
    is named `measured`, and its first `today` records started in `today_window(now)`, the others
    in the 30 days before T_END. Same seed, same records."""
    rnd = random.Random(seed)
    day_start, day_end = today_window(now or dt.datetime.now(dt.UTC))
    today_us = max(1, int((day_end - day_start).total_seconds() * 10**6))
    out: list[CallRecord] = []
    measured_seen = 0
    for i in range(n):
        tenant = measured if i % tenants == 0 else f"T{i % tenants}"
        if tenant == measured and measured_seen < today:
            started = day_start + dt.timedelta(microseconds=rnd.randrange(today_us))
        else:
            started = T_END - dt.timedelta(
                seconds=rnd.randrange(30 * 86400), microseconds=rnd.randrange(10**6)
            )
        measured_seen += tenant == measured
        disposition = rnd.choice(DISPOSITIONS)
        answered = started + dt.timedelta(seconds=4) if disposition == "answered" else None
        ended = (answered or started) + dt.timedelta(seconds=rnd.randrange(5, 600))
        leg = _LEG.model_copy(
            update={
                "leg_id": f"L{i}",
                "started_at": started,
                "answered_at": answered,
                "ended_at": ended,
                "outcome": "answered" if answered else "no_answer",
                "sip_status": 200 if answered else 408,
            }
        )
        out.append(
            _CALL.model_copy(
                update={
                    "call_id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
                    "tenant_id": tenant,
                    "number_called": f"+1555000{rnd.randrange(10):04d}",
                    "caller": f"+1555{rnd.randrange(10**7):07d}",
                    "direction": rnd.choice(["inbound"] * 9 + ["outbound"]),
                    "legs": [leg],
                    "started_at": started,
                    "answered_at": answered,
                    "ended_at": ended,
                    "disposition": disposition,
                    "user_id": f"U{rnd.randrange(20)}",
                    "voicemail_blob": f"{tenant}/vm/{i}.wav" if disposition == "voicemail" else None,
                }
            )
        )
        if len(out) == batch:
            yield out
            out = []
    if out:
        yield out


def make_records(n: int, tenants: int, seed: int = 7, measured: str = "T0") -> list[CallRecord]:
    """`n` calls over `tenants` tenants in one list (none today)."""
    return [r for b in record_batches(n, tenants, measured=measured, seed=seed) for r in b]


def seed_activities(store: HistoryStore, tenant_id: str, user_id: str, n: int = ACTIVITIES) -> None:
    """`n` feed items of one user: voicemails and missed calls, a third of them read."""
    base = dt.datetime.now(dt.UTC)
    for i in range(n):
        store.add_activity(
            ActivityItem(
                id=f"bench:{i}",
                tenant_id=tenant_id,
                user_id=user_id,
                kind="voicemail" if i % 2 else "missed_call",
                created_at=base - dt.timedelta(minutes=i),
                read=i % 3 == 0,
            )
        )


def timed(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return samples


Row = tuple[str, str, str]  # measure, result, target ("" where the issue sets none)


def seed(name: str, store: HistoryStore, batches: Iterable[list[CallRecord]]) -> list[Row]:
    """Store the records: the first SINGLE with one put_call each (timed: the edge's insert
    rate), the rest in put_calls transactions where the adapter has it (timed separately)."""
    single: list[float] = []
    bulk: list[float] = []
    singles = bulked = 0
    put_calls: Callable[[list[CallRecord]], int] | None = getattr(store, "put_calls", None)
    for b in batches:
        if singles < SINGLE or put_calls is None:
            t = time.perf_counter()
            for rec in b:
                store.put_call(rec)
            single.append(time.perf_counter() - t)
            singles += len(b)
        else:
            t = time.perf_counter()
            put_calls(b)
            bulk.append(time.perf_counter() - t)
            bulked += len(b)
    rows: list[Row] = [
        (
            f"{name}: insert {singles:,} call records (one put_call each)",
            f"{singles / sum(single):,.0f}/s",
            "",
        )
    ]
    if bulked:
        rows.append(
            (
                f"{name}: seed {bulked:,} more (put_calls, {BATCH:,} per transaction)",
                f"{bulked / sum(bulk):,.0f}/s ({sum(bulk):.0f} s)",
                "",
            )
        )
    return rows


def run(
    name: str, store: HistoryStore, batches: Iterable[list[CallRecord]], queries: int, t0: str = "T0"
) -> list[Row]:
    rows = seed(name, store, batches)
    cursor = store.list_calls(t0, limit=50).next_cursor
    for _ in range(40):  # a cursor 40 pages deep
        cursor = store.list_calls(t0, limit=50, cursor=cursor).next_cursor
    since, until = today_window(dt.datetime.now(dt.UTC))
    until += dt.timedelta(days=1)

    def dashboard_counts() -> object:
        return (
            store.count_calls(t0, since=since, until=until),
            store.count_calls(t0, since=since, until=until, disposition="missed"),
            store.count_calls(t0, since=since, until=until, disposition="voicemail"),
            store.count_activities(t0, "U3", read=False, archived=None, kind="voicemail"),
            store.unread_count(t0, "U3"),
        )

    shapes: list[tuple[str, Callable[[], object]]] = [
        ("first page of 50, no filter", lambda: store.list_calls(t0, limit=50)),
        ("first page, disposition=missed", lambda: store.list_calls(t0, disposition="missed", limit=50)),
        ("first page, user_id", lambda: store.list_calls(t0, user_id="U3", limit=50)),
        ("first page, number", lambda: store.list_calls(t0, number="+15550000003", limit=50)),
        (
            "first page, last 7 days + disposition",
            lambda: store.list_calls(
                t0, since=T_END - dt.timedelta(days=7), until=T_END, disposition="answered", limit=50
            ),
        ),
        ("page 42 (keyset cursor)", lambda: store.list_calls(t0, limit=50, cursor=cursor)),
        ("stats, 30 days", lambda: store.get_stats(t0, (T_END - dt.timedelta(days=30)).date(), T_END.date())),
        ("the dashboard's 5 counts, sequentially", dashboard_counts),
    ]
    for label, fn in shapes:
        fn()  # warm
        samples = timed(fn, queries)
        rows.append((f"{name}: {label}", f"p50 {pct(samples, 50):.2f} ms  p99 {pct(samples, 99):.2f} ms", ""))
    return rows


API_SHAPES: list[tuple[str, dict[str, str]]] = [
    ("disposition=missed", {"disposition": "missed"}),
    ("user_id", {"user_id": "U3"}),
    ("number", {"number": "+15550000003"}),
    (
        "from/to 7 days + disposition",
        {
            "from": (T_END - dt.timedelta(days=7)).isoformat(),
            "to": T_END.isoformat(),
            "disposition": "answered",
        },
    ),
    ("direction=outbound", {"direction": "outbound"}),
]


async def api_run(name: str, client: httpx.AsyncClient, queries: int, records: int, today: int) -> list[Row]:
    """p50/p99 of filtered first pages of 50 (and of a deep cursor page), and of the dashboard,
    through the API."""

    async def page(params: dict[str, str]) -> str | None:
        r = await client.get("/api/v1/calls", params={"limit": "50", **params})
        if r.status_code != 200:
            raise SystemExit(f"GET /api/v1/calls {params}: {r.status_code} {r.text[:300]}")
        body = r.json()
        if not body["items"]:
            raise SystemExit(f"GET /api/v1/calls {params}: an empty page (too few --records?)")
        return body["next_cursor"]  # type: ignore[no-any-return]

    deep = {"disposition": "answered"}
    cursor, depth = await page(deep), 1
    while depth < 41:  # a cursor 41 pages deep (or the last page of a small run)
        following = await page({**deep, "cursor": cursor}) if cursor else None
        if following is None:
            break
        cursor, depth = following, depth + 1
    shapes = [*API_SHAPES]
    if cursor:
        shapes.append((f"disposition=answered, page {depth + 1} (cursor)", {**deep, "cursor": cursor}))
    rows = []
    for label, params in shapes:
        await page(params)  # warm
        samples = []
        for _ in range(queries):
            t = time.perf_counter()
            await page(params)
            samples.append((time.perf_counter() - t) * 1000)
        rows.append(
            (
                f"{name}: GET /api/v1/calls?{label}, page of 50",
                f"p50 {pct(samples, 50):.2f} ms  p99 {pct(samples, 99):.2f} ms",
                CALLS_TARGET if records >= 1_000_000 else "",
            )
        )

    async def dashboard() -> dict[str, Any]:
        r = await client.get("/api/v1/dashboard")
        if r.status_code != 200:
            raise SystemExit(f"GET /api/v1/dashboard: {r.status_code} {r.text[:300]}")
        return r.json()  # type: ignore[no-any-return]

    got = (await dashboard())["today"]["calls"]
    if got != today:  # only a run across midnight UTC may see fewer
        print(f"warning: the dashboard counts {got:,} calls today, {today:,} were seeded", file=sys.stderr)
    samples = []
    for _ in range(queries):
        t = time.perf_counter()
        await dashboard()
        samples.append((time.perf_counter() - t) * 1000)
    rows.append(
        (
            f"{name}: GET /api/v1/dashboard, {got:,} calls today",
            f"p50 {pct(samples, 50):.2f} ms  p99 {pct(samples, 99):.2f} ms",
            DASHBOARD_TARGET if got >= 100_000 else "",
        )
    )
    return rows


def with_api(args: argparse.Namespace, uri: str | None) -> tuple[list[Row], str]:
    """The store and API rows on the real local stack (see the module docstring)."""
    from infra.local.stack import LocalStack, signup_verified

    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        tenant_id, token = signup_verified(stack, "owner@history-bench.example", company="Bench Ltd")
        auth = {"Authorization": f"Bearer {token}"}
        users = httpx.get(f"{stack.api}/users", headers=auth, timeout=10).json()["items"]
        owner = next(u["id"] for u in users if u["email"] == "owner@history-bench.example")
        now = dt.datetime.now(dt.UTC)

        def batches() -> Iterator[list[CallRecord]]:
            return record_batches(args.records, args.tenants, measured=tenant_id, today=args.today, now=now)

        store = SqliteHistoryStore(default_sqlite_path(stack.settings.data_dir))
        rows += run("sqlite", store, batches(), args.queries, t0=tenant_id)
        seed_activities(store, tenant_id, owner)
        store.close()
        today = min(args.today, -(-args.records // args.tenants))

        async def over_http() -> list[Row]:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.api_port}", headers=auth) as c:
                return await api_run("sqlite, API over HTTP", c, args.queries, args.records, today)

        rows += asyncio.run(over_http())
        if uri:
            rows += mongo_rows(args, uri, batches, tenant_id, stack, auth, owner, today)
    return rows, "the real stack"


def mongo_rows(
    args: argparse.Namespace,
    uri: str,
    batches: Callable[[], Iterator[list[CallRecord]]],
    tenant_id: str,
    stack: object | None = None,
    auth: dict[str, str] | None = None,
    owner: str = "U3",
    today: int = 0,
) -> list[Row]:
    from shared.adapters.history.aio import AsyncHistoryStore
    from shared.adapters.history.mongo_store import MongoHistoryStore

    database = f"history_bench_{uuid.uuid4().hex[:8]}"
    mongo = MongoHistoryStore(uri, database=database)
    rows: list[Row] = []
    try:
        rows += run("mongodb", mongo, batches(), args.queries, t0=tenant_id)
        seed_activities(mongo, tenant_id, owner)
        if stack is not None and auth is not None:
            from functions.http_api.app import create_app

            settings = stack.settings  # type: ignore[attr-defined]

            async def in_process() -> list[Row]:
                app = create_app(settings, history=AsyncHistoryStore(mongo))
                transport = httpx.ASGITransport(app=app)
                try:
                    async with httpx.AsyncClient(
                        transport=transport, base_url="http://api", headers=auth
                    ) as c:
                        return await api_run(
                            "mongodb, API in-process (ASGI)", c, args.queries, args.records, today
                        )
                finally:
                    await app.state.ctx.aclose()

            rows += asyncio.run(in_process())
    finally:
        mongo.client.drop_database(database)
        mongo.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--today", type=int, default=100_000, help="records of the measured tenant started today")
    p.add_argument("--tenants", type=int, default=1)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--no-api", action="store_true", help="time the store only (no local stack)")
    args = p.parse_args()
    if not args.no_api and args.today >= -(-args.records // args.tenants):
        p.error("--today must leave some of the measured tenant's records for the dated GET /calls rows")
    # A script entry point, not library code. Kept out of the stack's environment: its functions
    # host must serve the SQLite file seeded here, not the MongoDB a developer points at.
    uri = os.environ.pop("MONGODB_URI", None)
    rows: list[Row] = []
    if args.no_api:
        now = dt.datetime.now(dt.UTC)

        def batches() -> Iterator[list[CallRecord]]:
            return record_batches(args.records, args.tenants, today=args.today, now=now)

        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteHistoryStore(Path(tmp) / "history.sqlite3")
            rows += run("sqlite", store, batches(), args.queries)
            store.close()
        if uri:
            rows += mongo_rows(args, uri, batches, "T0")
        where = "store only"
    else:
        rows, where = with_api(args, uri)
    per_tenant = -(-args.records // args.tenants)
    print(
        f"\nHistory DB benchmark ({where}): {args.records:,} call records over {args.tenants} tenant(s) "
        f"({per_tenant:,} for the measured one, {min(args.today, per_tenant):,} of them today), "
        f"{args.queries} queries each, {os.cpu_count()} cores\n"
    )
    w = max(len(r[0]) for r in rows)
    v = max(len(r[1]) for r in rows)
    print(f"{'measure':<{w}}  {'result':<{v}}  target")
    for label, result, target in rows:
        print(f"{label:<{w}}  {result:<{v}}  {target}".rstrip())


if __name__ == "__main__":
    main()
