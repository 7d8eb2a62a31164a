"""The operator CLI: the number inventory and tenants, over the ConfigDB.

    python -m ops numbers import FILE.csv
    python -m ops numbers list [--state free|assigned|quarantined] [--region R] [--prefix +1555]
                               [--tenant ID] [--limit N]
    python -m ops tenants list [--status trial|active|suspended|cancelled] [--region R]
    python -m ops tenants show ID
    python -m ops tenants suspend ID
    python -m ops tenants resume ID
    python -m ops tenants extend-trial ID DAYS
    python -m ops tenants set-quota ID {users,numbers,menus,prompts,media_bytes} N|default
    python -m ops dlq list QUEUE [--limit N]
    python -m ops dlq replay QUEUE [--id ID]

It connects with CONFIGDB_ENDPOINTS and the admin token CONFIGDB_TOKEN (`shared.settings`; outside
PBX_ENVIRONMENT=local the development token is refused, exit status 1), prints
JSON, one object per line, and writes one audit record per command (`ops.audit`). Bad input (a
CSV with a wrong header or a bad number, an unknown tenant, a change the tenant's state refuses)
is one sentence on stderr and exit status 2; an unreachable ConfigDB is exit status 1; never a
traceback.

The `dlq` commands (`ops.dlq`) work on the dead letters of the queues, on the bus this deployment
uses (Service Bus's dead-letter queues, or the local `<queue>-poison` Storage queues); only
`dlq replay` needs the ConfigDB, for its audit record.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ops import dlq
from ops.audit import AuditRecord, new_record_id, operator_name, write_audit
from shared.adapters.config_repo import ConfigRepo
from shared.configdb import AsyncConfigDBClient, ConfigDBError
from shared.directory.models.inventory import InventoryState
from shared.directory.models.quota import QuotaKind
from shared.directory.models.tenant import TenantStatus
from shared.directory.services.inventory import (
    InventoryFileInvalid,
    InventoryRow,
    InventoryService,
    normalise_prefix,
    parse_inventory_csv,
)
from shared.errors import DomainError, Unavailable
from shared.lifecycle.services.operator import TenantOperations
from shared.ports import Clock, SystemClock
from shared.settings import Settings

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input found before or while running a command: one sentence, exit 2."""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days") from None
    if not 1 <= value <= 3650:
        raise argparse.ArgumentTypeError("days must be between 1 and 3650")
    return value


def _quota_value(text: str) -> int | None:
    if text == "default":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'default'") from None
    if not 0 <= value <= 1024**4:
        raise argparse.ArgumentTypeError("a quota must be between 0 and 1099511627776")
    return value


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("the limit must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ops",
        description="Operate the platform: the number inventory, tenants and the queues' dead letters. "
        "Output: JSON lines.",
        epilog="Connects with CONFIGDB_ENDPOINTS and CONFIGDB_TOKEN; OPS_OPERATOR names you in the "
        "audit records (default: your OS user). The dlq commands use ServiceBusConnection (or "
        "ServiceBusConnection__fullyQualifiedNamespace) when set, else AzureWebJobsStorage. "
        "Exit status: 0 ok, 1 unreachable or failed, 2 bad input.",
    )
    groups = p.add_subparsers(dest="group", required=True, metavar="{numbers,tenants,dlq}")

    numbers = groups.add_parser("numbers", help="the number inventory")
    ncmd = numbers.add_subparsers(dest="command", required=True, metavar="{import,list}")
    imp = ncmd.add_parser(
        "import", help="add the numbers of a carrier CSV (header: number,region[,capabilities])"
    )
    imp.add_argument("file", help="the CSV file")
    nl = ncmd.add_parser("list", help="numbers of the inventory, in number order")
    nl.add_argument("--state", choices=[s.value for s in InventoryState])
    nl.add_argument("--region")
    nl.add_argument("--prefix", help="digits the number starts with, e.g. +1555")
    nl.add_argument("--tenant", help="only numbers assigned to this tenant id")
    nl.add_argument("--limit", type=_limit)

    tenants = groups.add_parser("tenants", help="tenants")
    tcmd = tenants.add_subparsers(
        dest="command", required=True, metavar="{list,show,suspend,resume,extend-trial,set-quota}"
    )
    tl = tcmd.add_parser("list", help="every tenant, in id order")
    tl.add_argument("--status", choices=[s.value for s in TenantStatus])
    tl.add_argument("--region")
    for name, text in (
        ("show", "one tenant, its numbers and user count"),
        ("suspend", "suspend a tenant in trial or active"),
        ("resume", "resume a suspended tenant (active with a billing account, else back in trial)"),
    ):
        c = tcmd.add_parser(name, help=text)
        c.add_argument("tenant_id")
    ext = tcmd.add_parser("extend-trial", help="move the trial end DAYS later (from now if it has passed)")
    ext.add_argument("tenant_id")
    ext.add_argument("days", type=_positive)
    sq = tcmd.add_parser("set-quota", help="set one quota of a tenant (N, or 'default' for the setting's)")
    sq.add_argument("tenant_id")
    sq.add_argument("kind", choices=[k.value for k in QuotaKind])
    sq.add_argument("value", type=_quota_value)
    dlq.add_parser(groups)
    return p


@dataclass
class Outcome:
    """What a command printed and what its audit record says about it."""

    lines: list[dict[str, Any]] = field(default_factory=list)
    args: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tenant_id: str | None = None


def _print(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line, sort_keys=True) + "\n")
    sys.stdout.flush()


def _read_inventory(path: str) -> tuple[list[InventoryRow], str]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    try:
        return parse_inventory_csv(text), hashlib.sha256(data).hexdigest()
    except InventoryFileInvalid as exc:
        raise UsageError(f"{path}: {exc.detail}") from None


async def run_command(args: argparse.Namespace, db: AsyncConfigDBClient, clock: Clock, out: Outcome) -> None:
    repo = ConfigRepo(db)
    if args.group == "numbers":
        inventory = InventoryService(repo, clock)
        if args.command == "import":
            rows, digest = _read_inventory(args.file)
            out.args = {"file": str(Path(args.file).resolve()), "sha256": digest, "rows": len(rows)}
            result = await inventory.import_rows(rows)
            out.summary = asdict(result)
            _print({"file": args.file, "rows": len(rows), **out.summary})
            return
        prefix = "+" if args.prefix is None else _prefix(args.prefix)
        out.args = {k: getattr(args, k) for k in ("state", "region", "prefix", "tenant", "limit")}
        got = await inventory.list(
            state=None if args.state is None else InventoryState(args.state),
            region=args.region,
            prefix=prefix,
            tenant_id=args.tenant,
            limit=args.limit,
        )
        for doc in got:
            _print({**doc.model_dump(mode="json"), "effective_state": doc.effective_state(clock.now()).value})
        out.summary = {"numbers": len(got)}
        return
    ops = TenantOperations(db, clock)
    if args.command == "list":
        out.args = {"status": args.status, "region": args.region}
        count = 0
        async for tenant in ops.list(None if args.status is None else TenantStatus(args.status), args.region):
            _print(_tenant_line(tenant.model_dump(mode="json")))
            count += 1
        out.summary = {"tenants": count}
        return
    out.tenant_id = args.tenant_id
    out.args = {"tenant_id": args.tenant_id}
    if args.command == "show":
        _print(await ops.show(args.tenant_id))
        return
    if args.command == "suspend":
        tenant = await ops.suspend(args.tenant_id)
    elif args.command == "resume":
        tenant = await ops.resume(args.tenant_id)
    elif args.command == "set-quota":
        out.args.update(kind=args.kind, value=args.value)
        tenant = await ops.set_quota(args.tenant_id, QuotaKind(args.kind), args.value)
        quotas = tenant.quotas.model_dump() if tenant.quotas is not None else {}
        out.summary = {"quotas": quotas}
        _print({"id": tenant.id, "quotas": quotas})
        return
    else:
        out.args["days"] = args.days
        tenant = await ops.extend_trial(args.tenant_id, args.days)
    line = _tenant_line(tenant.model_dump(mode="json"))
    out.summary = {"status": line["status"], "trial_ends_at": line["trial_ends_at"]}
    _print(line)


def _prefix(text: str) -> str:
    try:
        return normalise_prefix(text)
    except DomainError:
        raise UsageError(f"{text!r} is not a number prefix (digits, optionally after '+')") from None


def _tenant_line(doc: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "id",
        "name",
        "status",
        "region",
        "trial_ends_at",
        "billing_account_id",
        "status_changed_at",
        "created_at",
    )
    return {k: doc.get(k) for k in keys}


async def _run(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    out = Outcome()
    command = f"{args.group} {args.command}"
    status, error = EXIT_OK, None
    async with AsyncConfigDBClient(
        settings.configdb_endpoints, settings.configdb_token.get_secret_value(), retries=3
    ) as db:
        try:
            await run_command(args, db, clock, out)
        except UsageError as exc:
            status, error = EXIT_USAGE, str(exc)
        except Unavailable as exc:
            status, error = EXIT_ERROR, f"the ConfigDB is unreachable: {exc.reason}"
        except DomainError as exc:
            status, error = (EXIT_USAGE if exc.status < 500 else EXIT_ERROR), exc.detail
        except ConfigDBError as exc:
            status, error = EXIT_ERROR, f"the ConfigDB refused the request: {exc}"
        if status == EXIT_USAGE and out.args == {} and args.group == "numbers" and args.command == "import":
            out.args = {"file": args.file}
        now = clock.now()
        record = AuditRecord(
            id=new_record_id(now),
            at=now,
            operator=operator_name(settings.ops_operator),
            command=command,
            args=out.args,
            tenant_id=out.tenant_id,
            outcome="ok" if status == EXIT_OK else "error",
            error=error,
            summary=out.summary,
        )
        try:
            await write_audit(db, record)
        except ConfigDBError as exc:
            if status == EXIT_OK:
                status, error = EXIT_ERROR, f"done, but the audit record could not be written: {exc}"
    if error is not None:
        print(f"ops {command}: {error}", file=sys.stderr)
    return status


async def _run_dlq(args: argparse.Namespace, settings: Settings, clock: Clock) -> int:
    status, error = await dlq.run_dlq(args, settings, clock, _print)
    if error is not None:
        print(f"ops dlq {args.command}: {error}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        print(f"ops: bad setting {where}: {first['msg']}", file=sys.stderr)
        return EXIT_USAGE
    if args.group != "dlq" or args.command == "replay":
        settings.require_secrets("configdb_token")  # production: never the development admin token
    try:
        if args.group == "dlq":
            return asyncio.run(_run_dlq(args, settings, clock or SystemClock()))
        return asyncio.run(_run(args, settings, clock or SystemClock()))
    except KeyboardInterrupt:
        return 130
