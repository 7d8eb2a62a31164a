"""History DB benchmark: insert rate and first-page latency of a tenant's calls; prints one table.

    .venv/bin/python bench/history.py [--records 20000] [--tenants 4] [--queries 300]

Runs against the embedded SQLite store (a fresh file in a temporary folder), and also against
MongoDB when MONGODB_URI is set (a scratch database, dropped afterwards). Records are spread over
`--tenants` tenants and 30 days; the measured tenant owns 1/tenants of them. Each insert is one
`put_call` (one transaction, with its stats upsert), the way the edge writes them. Latencies are
of the store call itself (`list_calls`, validated models out), not of the HTTP route on top.
"""

from __future__ import annotations

import argparse
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

from bench.configdb import pct
from shared.history import HistoryStore
from shared.history.sqlite_store import SqliteHistoryStore
from shared.models.call import CallRecord, Leg, PathStep, RtpQuality

T_END = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
DISPOSITIONS = ["answered"] * 6 + ["missed"] * 2 + ["voicemail", "abandoned"]


def make_records(n: int, tenants: int, seed: int = 7) -> list[CallRecord]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        started = T_END - dt.timedelta(seconds=rnd.randrange(30 * 86400), microseconds=rnd.randrange(10**6))
        disposition = rnd.choice(DISPOSITIONS)
        answered = started + dt.timedelta(seconds=4) if disposition == "answered" else None
        ended = (answered or started) + dt.timedelta(seconds=rnd.randrange(5, 600))
        tenant = f"T{i % tenants}"
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


def run(name: str, store: HistoryStore, records: list[CallRecord], queries: int) -> list[tuple[str, str]]:
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
    t0 = "T0"
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=20_000)
    p.add_argument("--tenants", type=int, default=4)
    p.add_argument("--queries", type=int, default=300)
    args = p.parse_args()
    records = make_records(args.records, args.tenants)
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteHistoryStore(Path(tmp) / "history.sqlite3")
        rows += run("sqlite", store, records, args.queries)
        store.close()
    uri = os.environ.get("MONGODB_URI")  # a script entry point, not library code
    if uri:
        from shared.history.mongo_store import MongoHistoryStore

        database = f"history_bench_{uuid.uuid4().hex[:8]}"
        mongo = MongoHistoryStore(uri, database=database)
        try:
            rows += run("mongodb", mongo, records, args.queries)
        finally:
            mongo.client.drop_database(database)
            mongo.close()
    per_tenant = args.records // args.tenants
    print(
        f"\nHistory DB benchmark: {args.records:,} call records over {args.tenants} tenants "
        f"({per_tenant:,} for the measured one), {args.queries} queries each, {os.cpu_count()} cores\n"
    )
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  result")
    for label, result in rows:
        print(f"{label:<{w}}  {result}")
    print("\ntarget (issue 5): p99 <= 50 ms for a filtered page at 100,000 records (--records 100000)")


if __name__ == "__main__":
    main()
