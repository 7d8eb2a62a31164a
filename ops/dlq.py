"""`python -m ops dlq`: the dead letters of the queues, on the bus this deployment uses.

    python -m ops dlq list QUEUE [--limit N]
    python -m ops dlq replay QUEUE [--id ID]

QUEUE is one of `shared.message_contract.QUEUES`. The transport is the bus's own choice
(`shared.adapters.bus_transport.transport`): Service Bus's dead-letter sub-queue when
`ServiceBusConnection` or `ServiceBusConnection__fullyQualifiedNamespace` is set, else the
`<queue>-poison` Storage queue on `AzureWebJobsStorage` (Azurite locally).

`list` prints one JSON line per dead letter, oldest first: its `id` (what `--id` takes), the
`message_id`, the `reason` code and `description`, the `delivery_count`, `dead_lettered_at` and a
`body_preview` of at most 200 characters. `replay` sends each dead letter's original body (or
only ID's) back to QUEUE as a new message and removes it from the dead letters, one line per
message; it writes an `audit/{ulid}` record in the ConfigDB. An unknown queue or id is one
sentence on stderr and exit status 2; an unreachable queue service or ConfigDB is exit status 1.
"""

from __future__ import annotations

import argparse
from typing import Any

from azure.storage.queue import LinearRetry

from ops.audit import AuditRecord, new_record_id, operator_name, write_audit
from shared.adapters.azure_credentials import service_bus_endpoint, storage_endpoint
from shared.adapters.bus_transport import transport
from shared.adapters.dead_letters import ServiceBusDeadLetters, StorageDeadLetters, poison_queue_of
from shared.configdb import AsyncConfigDBClient, ConfigDBError
from shared.errors import Unavailable
from shared.message_contract import QUEUES
from shared.ports import Clock, DeadLetter, DeadLetters
from shared.settings import Settings

PREVIEW_CHARS = 200
STORAGE_TIMEOUT_S = 5  # an unreachable queue service fails in seconds, not after the SDK's minute
STORAGE_RETRY_BACKOFF_S = 0.5
DEFAULT_LIMIT = 32
MAX_LIMIT = 1000


class DlqUsageError(Exception):
    """Bad input: one sentence, exit 2."""


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"the limit must be between 1 and {MAX_LIMIT}")
    return value


def add_parser(groups: Any) -> None:
    dlq = groups.add_parser("dlq", help="dead letters of the queues (Service Bus DLQ, or <queue>-poison)")
    cmd = dlq.add_subparsers(dest="command", required=True, metavar="{list,replay}")
    ls = cmd.add_parser("list", help="the dead letters of QUEUE, oldest first, without taking them")
    ls.add_argument("queue", help=f"one of: {', '.join(QUEUES)}")
    ls.add_argument(
        "--limit", type=_limit, default=DEFAULT_LIMIT, help=f"at most N (default {DEFAULT_LIMIT})"
    )
    rp = cmd.add_parser("replay", help="send dead letters back to QUEUE as new messages")
    rp.add_argument("queue", help=f"one of: {', '.join(QUEUES)}")
    rp.add_argument(
        "--id", dest="dead_letter_id", metavar="ID", help="only this dead letter (an id from dlq list)"
    )


def dead_letters(settings: Settings) -> tuple[str, DeadLetters]:
    """The transport's name and its dead-letter adapter."""
    if transport(settings) == "servicebus":
        return "servicebus", ServiceBusDeadLetters(service_bus_endpoint(settings))
    retry = LinearRetry(backoff=STORAGE_RETRY_BACKOFF_S, random_jitter_range=0, retry_total=1)
    options = {
        "connection_timeout": STORAGE_TIMEOUT_S,
        "read_timeout": STORAGE_TIMEOUT_S,
        "retry_policy": retry,
    }
    return "storage", StorageDeadLetters(storage_endpoint(settings, "queue"), **options)


def where(kind: str, queue: str) -> str:
    return f"{queue}'s dead-letter queue" if kind == "servicebus" else poison_queue_of(queue)


def preview(body: str) -> str:
    return body if len(body) <= PREVIEW_CHARS else body[: PREVIEW_CHARS - 1] + "…"


def list_line(letter: DeadLetter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "queue": letter.queue,
        "message_id": letter.message_id,
        "reason": letter.reason,
        "description": letter.description,
        "delivery_count": letter.delivery_count,
        "dead_lettered_at": letter.dead_lettered_at.isoformat() if letter.dead_lettered_at else None,
        "body_preview": preview(letter.body),
        "body_truncated": letter.body_truncated,
    }


def replay_line(letter: DeadLetter, replayed: bool) -> dict[str, Any]:
    line: dict[str, Any] = {
        "replayed": replayed,
        "id": letter.id,
        "queue": letter.queue,
        "message_id": letter.message_id,
        "reason": letter.reason,
    }
    if not replayed:
        line["error"] = "only a truncated body was stored; it stays in the dead letters"
    return line


def check_queue(queue: str) -> None:
    if queue not in QUEUES:
        raise DlqUsageError(f"unknown queue {queue!r}; the queues are: {', '.join(QUEUES)}")


async def run_dlq(
    args: argparse.Namespace, settings: Settings, clock: Clock, emit: Any
) -> tuple[int, str | None]:
    """Run `dlq list` or `dlq replay`; returns (exit status, error sentence)."""
    try:
        check_queue(args.queue)
    except DlqUsageError as exc:
        status, error = 2, str(exc)
        if args.command == "replay":
            return await _audited(args, settings, clock, status, error, {})
        return status, error
    kind, store = dead_letters(settings)
    if args.command == "list":
        try:
            letters, total = await store.list(args.queue, args.limit)
        except Unavailable as exc:
            return 1, f"the dead-letter queue is unreachable: {exc.reason}"
        for letter in letters:
            emit(list_line(letter))
        if total is not None and total > len(letters):
            return 0, (
                f"showing {len(letters)} of about {total} dead letters on {where(kind, args.queue)}"
                + (" (Storage queues show at most 32 without taking them)" if kind == "storage" else "")
            )
        return 0, None
    try:
        replayed, kept = await store.replay(args.queue, args.dead_letter_id)
    except Unavailable as exc:
        return await _audited(
            args, settings, clock, 1, f"the dead-letter queue is unreachable: {exc.reason}", {}
        )
    for letter in replayed:
        emit(replay_line(letter, True))
    for letter in kept:
        emit(replay_line(letter, False))
    summary = {"transport": kind, "replayed": len(replayed), "kept": len(kept)}
    status, error = 0, None
    if args.dead_letter_id is not None and not replayed and not kept:
        status, error = 2, f"no dead letter with id {args.dead_letter_id!r} on {where(kind, args.queue)}"
    elif kept:
        status, error = 1, f"{len(kept)} dead letters were kept: only a truncated body was stored"
    return await _audited(args, settings, clock, status, error, summary)


async def _audited(
    args: argparse.Namespace,
    settings: Settings,
    clock: Clock,
    status: int,
    error: str | None,
    summary: dict[str, Any],
) -> tuple[int, str | None]:
    """Write the `audit/{ulid}` record of a `dlq replay` run."""
    now = clock.now()
    record = AuditRecord(
        id=new_record_id(now),
        at=now,
        operator=operator_name(settings.ops_operator),
        command="dlq replay",
        args={"queue": args.queue, "id": args.dead_letter_id},
        outcome="ok" if status == 0 else "error",
        error=error,
        summary=summary,
    )
    try:
        async with AsyncConfigDBClient(
            settings.configdb_endpoints, settings.configdb_token.get_secret_value(), retries=3
        ) as db:
            await write_audit(db, record)
    except (ConfigDBError, Unavailable, OSError) as exc:
        if status == 0:
            return 1, f"done, but the audit record could not be written: {exc}"
    return status, error
