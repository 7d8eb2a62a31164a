"""A second process that writes to the History DB, for the contract tests.

    python -m tests.integration.history_writer --sqlite PATH | --mongo URI --database NAME
        --tenant T --prefix P --count N [--base-us US] [--span-us US] [--interval S] [--seed N]

Writes N call records (started at pseudo-random times in [base, base + span)) and, for each, one
activity item, each as its own short write. Prints "started" after the first write and "done N"
at the end, flushing each line, so the parent can overlap its reads with these writes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import time

from shared.history.models.call import ActivityItem, CallRecord
from shared.history.ports import HistoryStore

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def open_store(args: argparse.Namespace) -> HistoryStore:
    if args.sqlite:
        from shared.adapters.history.sqlite_store import SqliteHistoryStore

        return SqliteHistoryStore(args.sqlite)
    from shared.adapters.history.mongo_store import MongoHistoryStore

    return MongoHistoryStore(args.mongo, database=args.database)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sqlite")
    p.add_argument("--mongo")
    p.add_argument("--database")
    p.add_argument("--tenant", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--base-us", type=int, default=1_714_564_800_000_000)  # 2024-05-01T12:00:00Z
    p.add_argument("--span-us", type=int, default=3_600_000_000)
    p.add_argument("--interval", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rnd = random.Random(args.seed)
    store = open_store(args)
    for i in range(args.count):
        started = EPOCH + dt.timedelta(microseconds=args.base_us + rnd.randrange(args.span_us))
        call_id = f"{args.prefix}-{i:06d}"
        store.put_call(
            CallRecord(
                call_id=call_id,
                tenant_id=args.tenant,
                number_called="+15550000001",
                caller="+15551112222",
                started_at=started,
                answered_at=started + dt.timedelta(seconds=2),
                ended_at=started + dt.timedelta(seconds=62),
                disposition="answered",
                user_id="U1",
            )
        )
        store.add_activity(
            ActivityItem(
                id=f"{call_id}-act",
                tenant_id=args.tenant,
                user_id="U1",
                kind="missed_call",
                call_id=call_id,
                created_at=started,
            )
        )
        if i == 0:
            print("started", flush=True)
        if args.interval:
            time.sleep(args.interval)
    store.close()
    print(f"done {args.count}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
