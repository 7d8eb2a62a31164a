"""CLI: ``python -m functions.devhost --app function_app:app --port 7071 --storage "<conn str>"``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from functions.devhost.app_loader import load_app
from functions.devhost.bindings import discover
from functions.devhost.blobs import BlobOptions
from functions.devhost.host import Host, HostConfig, load_settings, read_host_json
from functions.devhost.invoker import EventLog
from functions.devhost.queues import QueueOptions
from shared.logs import configure_logging

STORAGE_SETTING = "AzureWebJobsStorage"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m functions.devhost", description=__doc__)
    p.add_argument("--app", default="function_app:app", help="module:attr of the function app")
    p.add_argument("--app-dir", type=Path, default=Path.cwd(), help="directory holding the app and host.json")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7071)
    p.add_argument(
        "--storage", default=None, help="Storage connection string (default: $AzureWebJobsStorage)"
    )
    p.add_argument("--settings", type=Path, default=None, help="local.settings.json to load Values from")
    p.add_argument("--data-dir", type=Path, default=Path(".data/devhost"), help="blob receipts live here")
    p.add_argument(
        "--retry-delay",
        type=float,
        default=None,
        help="fixed seconds before a failed message is retried (default: 10, 30, 60, 120 s by attempt)",
    )
    p.add_argument("--max-deliveries", type=int, default=5, help="deliveries before <queue>-poison")
    p.add_argument("--visibility-timeout", type=int, default=30, help="lock duration of a received message")
    p.add_argument("--poll-interval", type=float, default=1.0, help="queue and blob polling, seconds")
    p.add_argument(
        "--queue-encoding", choices=("base64", "text"), default="base64", help="queue message text encoding"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # The functions' own run summaries are INFO lines; every line is one JSON object.
    configure_logging(logging.INFO, service="functions")
    if args.storage:
        os.environ[STORAGE_SETTING] = args.storage
    if args.settings:
        load_settings(args.settings)
    storage = args.storage or os.environ.get(STORAGE_SETTING) or None
    app = load_app(args.app, args.app_dir)
    config = HostConfig(
        host=args.host,
        port=args.port,
        storage=storage,
        data_dir=args.data_dir,
        host_json=read_host_json(args.app_dir / "host.json"),
        queue=QueueOptions(
            visibility_timeout=args.visibility_timeout,
            retry_delay=args.retry_delay,
            max_deliveries=args.max_deliveries,
            poll_interval=args.poll_interval,
            encoding=args.queue_encoding,
        ),
        blob=BlobOptions(poll_interval=args.poll_interval),
    )
    host = Host(discover(app), config, EventLog())
    asyncio.run(host.serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
