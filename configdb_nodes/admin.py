"""The ConfigDB admin CLI: a thin shell over `shared.configdb.ConfigDBClient`.

    CONFIGDB_TOKEN=T python -m configdb_nodes.admin --endpoints URL[,URL...] COMMAND ...

Output is JSON, one object per line. Errors are one line on stderr and a non-zero
exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import orjson

from shared.configdb import (
    KV,
    CompareFailed,
    ConfigDBClient,
    ConfigDBError,
    InvalidRequest,
    KeyNotFound,
    PrefixView,
    WatchEvent,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_EPILOG = """\
commands and their output (one JSON object per line on stdout):
  status               one line per endpoint: that node's /v1/status
                       (exit 1 if any endpoint is unreachable)
  get KEY              {"key", "value", "revision"}; exit 1 with "not found: KEY" when absent
  put KEY JSON         {"revision"}; JSON is the value, e.g. '{"a": 1}' or '"text"'
  delete KEY           {"revision"}; exit 1 with "not found: KEY" when absent
  list PREFIX          one {"key", "value", "revision"} per key, ordered by key
                       (follows pages; each page may be read at a different revision)
  snapshot PREFIX      one {"key", "value", "revision"} per key of a consistent image,
                       then a final {"revision": R}: the image reflects exactly revision R
                       (watch from R+1 to follow it). No final line means it was cut short.
  watch PREFIX         one {"revision", "type", "key", "value"} per change, type "put" or
                       "delete" (value null), flushed per line, until Ctrl-C.
                       Without --from-revision it first prints the current keys as "put"
                       lines (their own revisions, oldest first), then every later change.
                       With --from-revision R it prints every change with revision >= R.
                       If the node has compacted the history it needs, the missed changes
                       are summarised as "put"/"delete" lines that bring the view up to date.

exit status: 0 ok, 1 error (not found, compare failed, unavailable, refused),
2 bad usage or invalid input (bad JSON, bad key), 130 interrupted.
The token comes from $CONFIGDB_TOKEN or --token-file (never the command line, where `ps`
shows it); the endpoints from $CONFIGDB_ENDPOINTS. Other prefixes than the application's and
writes need the shard's admin token; a token outside its scope is refused (403).
"""


class _Usage(Exception):
    """A usage error found after parsing (e.g. bad JSON): exit 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m configdb_nodes.admin",
        description="Administer a ConfigDB shard over its HTTP and stream ports.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--endpoints",
        default=os.environ.get("CONFIGDB_ENDPOINTS"),
        help="comma-separated node HTTP base URLs, e.g. http://127.0.0.1:7101 ($CONFIGDB_ENDPOINTS)",
    )
    p.add_argument("--token-file", type=Path, help="a file holding the bearer token (else $CONFIGDB_TOKEN)")
    p.add_argument(
        "--stream-endpoints",
        default=None,
        help="comma-separated stream addresses host:port (default: learned from each node's /v1/status)",
    )
    p.add_argument("--timeout", type=float, default=5.0, help="per-request timeout in seconds (5)")
    p.add_argument("--retries", type=int, default=8, help="retries across endpoints before giving up (8)")
    p.add_argument("--insecure", action="store_true", help="do not verify TLS certificates")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("status", help="each endpoint's node status")

    g = sub.add_parser("get", help="read one key")
    g.add_argument("key")
    g.add_argument("--consistent", action="store_true", help="linearizable read")

    pu = sub.add_parser("put", help="write one key")
    pu.add_argument("key")
    pu.add_argument("json", metavar="JSON", help="the value, as JSON")
    pu.add_argument(
        "--prev-revision", type=int, help="compare-and-set: the key's expected revision (0 = absent)"
    )
    pu.add_argument("--request-id", help="idempotency key (default: a fresh uuid4)")

    d = sub.add_parser("delete", help="delete one key")
    d.add_argument("key")
    d.add_argument("--prev-revision", type=int, help="compare-and-delete: the key's expected revision")
    d.add_argument("--request-id", help="idempotency key (default: a fresh uuid4)")

    li = sub.add_parser("list", help="list keys under a prefix")
    li.add_argument("prefix")
    li.add_argument("--page-size", type=int, default=1000, help="keys per request, 1..10000 (1000)")
    li.add_argument("--consistent", action="store_true", help="linearizable reads")

    w = sub.add_parser("watch", help="follow changes under a prefix until Ctrl-C")
    w.add_argument("prefix")
    w.add_argument("--from-revision", type=int, help="print every change with revision >= R")

    s = sub.add_parser("snapshot", help="a consistent image of a prefix, then its revision")
    s.add_argument("prefix")
    return p


# ----------------------------------------------------------------------------- output


def _emit(obj: Any, *, flush: bool = False) -> None:
    sys.stdout.write(orjson.dumps(obj).decode() + "\n")
    if flush:
        sys.stdout.flush()


def _kv(kv: KV) -> dict[str, Any]:
    return {"key": kv.key, "value": kv.value, "revision": kv.revision}


def _event(ev: WatchEvent) -> dict[str, Any]:
    return {"revision": ev.revision, "type": ev.type, "key": ev.key, "value": ev.value}


# ----------------------------------------------------------------------------- commands


def cmd_status(db: ConfigDBClient, args: argparse.Namespace) -> int:
    code = EXIT_OK
    for endpoint in db.endpoints:
        try:
            st = db.status(endpoint)
        except ConfigDBError as exc:
            print(f"unreachable: {endpoint}: {exc}", file=sys.stderr)
            code = EXIT_ERROR
            continue
        _emit(st.model_dump(mode="json"))
    return code


def cmd_get(db: ConfigDBClient, args: argparse.Namespace) -> int:
    _emit(_kv(db.get(args.key, consistent=args.consistent)))
    return EXIT_OK


def cmd_put(db: ConfigDBClient, args: argparse.Namespace) -> int:
    try:
        value = orjson.loads(args.json)
    except orjson.JSONDecodeError as exc:
        raise _Usage(f"invalid JSON value for {args.key}: {exc}") from None
    rev = db.put(args.key, value, prev_revision=args.prev_revision, request_id=args.request_id)
    _emit({"revision": rev})
    return EXIT_OK


def cmd_delete(db: ConfigDBClient, args: argparse.Namespace) -> int:
    rev = db.delete(args.key, prev_revision=args.prev_revision, request_id=args.request_id)
    _emit({"revision": rev})
    return EXIT_OK


def cmd_list(db: ConfigDBClient, args: argparse.Namespace) -> int:
    for kv in db.iter_prefix(args.prefix, page_size=args.page_size, consistent=args.consistent):
        _emit(_kv(kv))
    return EXIT_OK


def cmd_snapshot(db: ConfigDBClient, args: argparse.Namespace) -> int:
    reader = db.iter_snapshot(args.prefix)
    for kv in reader:
        _emit(_kv(kv))
    _emit({"revision": reader.revision}, flush=True)
    return EXIT_OK


def cmd_watch(db: ConfigDBClient, args: argparse.Namespace) -> int:
    view = PrefixView()
    with db.watch(args.prefix, from_revision=args.from_revision) as watch:
        for item in watch:
            for ev in view.apply(item):
                _emit(_event(ev), flush=True)
    return EXIT_OK


COMMANDS: dict[str, Callable[[ConfigDBClient, argparse.Namespace], int]] = {
    "status": cmd_status,
    "get": cmd_get,
    "put": cmd_put,
    "delete": cmd_delete,
    "list": cmd_list,
    "snapshot": cmd_snapshot,
    "watch": cmd_watch,
}


# ----------------------------------------------------------------------------- main


def _split(csv: str) -> list[str]:
    return [e.strip() for e in csv.split(",") if e.strip()]


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code


def _stdout_gone() -> NoReturn:
    # The reader went away (e.g. `| head`): point stdout at /dev/null so the
    # interpreter's final flush does not complain, and exit quietly.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    raise SystemExit(EXIT_OK)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    # Ctrl-C and SIGTERM both end a command cleanly (a watch with status 0), even when the
    # parent started us with SIGINT ignored, as a shell does for a background job.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        token = args.token_file.read_text().strip() if args.token_file else os.environ.get("CONFIGDB_TOKEN")
    except OSError as exc:
        parser.error(f"--token-file {args.token_file}: {exc.strerror}")
    if not token:
        parser.error("a token is required: $CONFIGDB_TOKEN or --token-file")
    if not args.endpoints:
        parser.error("endpoints are required: --endpoints or $CONFIGDB_ENDPOINTS")
    endpoints = _split(args.endpoints)
    streams = _split(args.stream_endpoints) if args.stream_endpoints else None
    try:
        db = ConfigDBClient(
            endpoints,
            token,
            timeout=args.timeout,
            retries=args.retries,
            verify=not args.insecure,
            stream_endpoints=streams,
        )
    except ValueError as exc:
        return _fail(f"error: {exc}", EXIT_USAGE)
    try:
        with db:
            code = COMMANDS[args.command](db, args)
        sys.stdout.flush()
        return code
    except KeyboardInterrupt:
        return EXIT_OK if args.command == "watch" else EXIT_INTERRUPTED
    except BrokenPipeError:
        _stdout_gone()
    except _Usage as exc:
        return _fail(f"error: {exc}", EXIT_USAGE)
    except KeyNotFound as exc:
        return _fail(f"not found: {exc.key}", EXIT_ERROR)
    except CompareFailed as exc:
        return _fail(str(exc), EXIT_ERROR)
    except InvalidRequest as exc:
        return _fail(f"error: {exc}", EXIT_USAGE)
    except ConfigDBError as exc:
        return _fail(f"error: {exc}", EXIT_ERROR)


if __name__ == "__main__":
    sys.exit(main())
