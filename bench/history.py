"""History DB benchmark: insert rate, first-page latency of a tenant's calls in the store, and
of a filtered `GET /api/v1/calls` page through the real API; prints one table.

    .venv/bin/python bench/history.py [--records 100000] [--tenants 1] [--queries 300] [--no-api]

Runs against the embedded SQLite store, and also against MongoDB when MONGODB_URI is set (a
scratch database, dropped afterwards). Records are spread over `--tenants` tenants and 30 days;
the measured tenant owns 1/tenants of them (by default all 100,000). Each insert is one
`put_call` (one transaction, with its stats upsert), the way the edge writes them. The store
rows time the store call itself (`list_calls`, validated models out).

The API rows (unless `--no-api`) start the real local stack (`infra.local.stack.LocalStack`:
Azurite, a 3-node ConfigDB shard, the SMTP catcher and the functions host), sign up a verified
tenant through the API, and make it the measured tenant:
- SQLite: the records go into the stack's own History file (DATA_DIR), which the functions host
  serves; requests go over HTTP to its uvicorn worker, one keep-alive client, sequentially.
- MongoDB: the host cannot be pointed at the scratch database, so the API is `create_app()` on
  the stack's settings (the real ConfigDB shard and Azurite) with the scratch store on
  `create_app(settings, history=...)`, called in-process through `httpx.ASGITransport`.
Each request carries the owner's bearer token, so the latency includes token checks, the
home-region lookup (cached), the store query and the JSON response.
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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.configdb import pct
from shared.adapters.history import default_sqlite_path
from shared.adapters.history.sqlite_store import SqliteHistoryStore
from shared.history.models.call import CallRecord, Leg, PathStep, RtpQuality
from shared.history.ports import HistoryStore

T_END = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
DISPOSITIONS = ["answered"] * 6 + ["missed"] * 2 + ["voicemail", "abandoned"]


def make_records(n: int, tenants: int, seed: int = 7, measured: str = "T0") -> list[CallRecord]:
    """`n` calls over `tenants` tenants; the first tenant (the measured one) is named `measured`."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        started = T_END - dt.timedelta(seconds=rnd.randrange(30 * 86400), microseconds=rnd.randrange(10**6))
        disposition = rnd.choice(DISPOSITIONS)
        answered = started + dt.timedelta(seconds=4) if disposition == "answered" else None
        ended = (answered or started) + dt.timedelta(seconds=rnd.randrange(5, 600))
        tenant = measured if i % tenants == 0 else f"T{i % tenants}"
        out.append(
            CallRecord(
                call_id=str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
                tenant_id=tenant,
                number_called=f"+1555000{rnd.randrange(10):04d}",
                caller=f"+1555{rnd.randrange(10**7):07d}",
                direction=rnd.choice(["inbound"] * 9 + ["outbound"]),  # type: ignore[arg-type]
                path=[PathStep(menu_id="M1", input="1", action="transfer_user", target="U1")],
                legs=[
                    Leg(
                        leg_id=f"L{i}",
                        kind="forward",
                        destination="+15557654321",
                        started_at=started,
                        answered_at=answered,
                        ended_at=ended,
                        outcome="answered" if answered else "no_answer",
                        sip_status=200 if answered else 408,
                        quality=RtpQuality(packets_rx=1000, packets_tx=1000, lost=3, loss_pct=0.3, mos=4.2),
                    )
                ],
                started_at=started,
                answered_at=answered,
                ended_at=ended,
                disposition=disposition,  # type: ignore[arg-type]
                user_id=f"U{rnd.randrange(20)}",
                voicemail_blob=f"{tenant}/vm/{i}.wav" if disposition == "voicemail" else None,
            )
        )
    return out


def timed(fn: Callable[[], object], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def run(
    name: str, store: HistoryStore, records: list[CallRecord], queries: int, t0: str = "T0"
) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    t = time.perf_counter()
    for rec in records:
        store.put_call(rec)
    elapsed = time.perf_counter() - t
    rows.append(
        (
            f"{name}: insert {len(records)} call records (one put_call each)",
            f"{len(records) / elapsed:,.0f}/s",
        )
    )
    cursor = store.list_calls(t0, limit=50).next_cursor
    for _ in range(40):  # a cursor 40 pages deep
        cursor = store.list_calls(t0, limit=50, cursor=cursor).next_cursor
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
    ]
    for label, fn in shapes:
        fn()  # warm
        samples = timed(fn, queries)
        rows.append((f"{name}: {label}", f"p50 {pct(samples, 50):.2f} ms  p99 {pct(samples, 99):.2f} ms"))
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


async def api_run(name: str, client: httpx.AsyncClient, queries: int) -> list[tuple[str, str]]:
    """p50/p99 of filtered first pages of 50 (and of a deep cursor page) through the API."""

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
            )
        )
    return rows


def with_api(args: argparse.Namespace, uri: str | None) -> tuple[list[tuple[str, str]], str]:
    """The store and API rows on the real local stack (see the module docstring)."""
    from infra.local.stack import LocalStack, signup_verified

    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp, LocalStack(Path(tmp)) as stack:
        tenant_id, token = signup_verified(stack, "owner@history-bench.example", company="Bench Ltd")
        auth = {"Authorization": f"Bearer {token}"}
        records = make_records(args.records, args.tenants, measured=tenant_id)
        store = SqliteHistoryStore(default_sqlite_path(stack.settings.data_dir))
        rows += run("sqlite", store, records, args.queries, t0=tenant_id)
        store.close()

        async def over_http() -> list[tuple[str, str]]:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{stack.api_port}", headers=auth) as c:
                return await api_run("sqlite, API over HTTP", c, args.queries)

        rows += asyncio.run(over_http())
        if uri:
            rows += mongo_rows(args, uri, records, tenant_id, stack, auth)
    return rows, "the real stack"


def mongo_rows(
    args: argparse.Namespace,
    uri: str,
    records: list[CallRecord],
    tenant_id: str,
    stack: object | None = None,
    auth: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    from shared.adapters.history.aio import AsyncHistoryStore
    from shared.adapters.history.mongo_store import MongoHistoryStore

    database = f"history_bench_{uuid.uuid4().hex[:8]}"
    mongo = MongoHistoryStore(uri, database=database)
    rows: list[tuple[str, str]] = []
    try:
        rows += run("mongodb", mongo, records, args.queries, t0=tenant_id)
        if stack is not None and auth is not None:
            from functions.http_api.app import create_app

            settings = stack.settings  # type: ignore[attr-defined]

            async def in_process() -> list[tuple[str, str]]:
                app = create_app(settings, history=AsyncHistoryStore(mongo))
                transport = httpx.ASGITransport(app=app)
                try:
                    async with httpx.AsyncClient(
                        transport=transport, base_url="http://api", headers=auth
                    ) as c:
                        return await api_run("mongodb, API in-process (ASGI)", c, args.queries)
                finally:
                    await app.state.ctx.aclose()

            rows += asyncio.run(in_process())
    finally:
        mongo.client.drop_database(database)
        mongo.close()
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--tenants", type=int, default=1)
    p.add_argument("--queries", type=int, default=300)
    p.add_argument("--no-api", action="store_true", help="time the store only (no local stack)")
    args = p.parse_args()
    # A script entry point, not library code. Kept out of the stack's environment: its functions
    # host must serve the SQLite file seeded here, not the MongoDB a developer points at.
    uri = os.environ.pop("MONGODB_URI", None)
    rows: list[tuple[str, str]] = []
    if args.no_api:
        records = make_records(args.records, args.tenants)
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteHistoryStore(Path(tmp) / "history.sqlite3")
            rows += run("sqlite", store, records, args.queries)
            store.close()
        if uri:
            rows += mongo_rows(args, uri, records, "T0")
        where = "store only"
    else:
        rows, where = with_api(args, uri)
    per_tenant = -(-args.records // args.tenants)
    print(
        f"\nHistory DB benchmark ({where}): {args.records:,} call records over {args.tenants} tenant(s) "
        f"({per_tenant:,} for the measured one), {args.queries} queries each, {os.cpu_count()} cores\n"
    )
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  result")
    for label, result in rows:
        print(f"{label:<{w}}  {result}")
    print("\ntarget: p99 <= 50 ms for a filtered GET /calls page at 100,000 records")


if __name__ == "__main__":
    main()
