"""Audit records of the operator CLI: one `audit/{ulid}` ConfigDB key per command run.

The id is a ULID, so the records list in time order under `audit/`. A record names who ran the
command (OPS_OPERATOR, else the OS user), the command and its arguments, when, the tenant it
concerned if any, and whether it succeeded.
"""

from __future__ import annotations

import datetime as dt
import getpass
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.configdb import AsyncConfigDBClient, Compare, Op
from shared.configdb_keys import audit_key
from shared.values import UtcDatetime, new_ulid


class AuditRecord(BaseModel):
    id: str
    at: UtcDatetime
    operator: str
    command: str
    args: dict[str, Any] = Field(default_factory=dict)
    tenant_id: str | None = None
    outcome: Literal["ok", "error"]
    error: str | None = None
    summary: dict[str, Any] = Field(default_factory=dict)


def operator_name(configured: str | None) -> str:
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


async def write_audit(db: AsyncConfigDBClient, record: AuditRecord) -> int:
    """Store `record` under `audit/{id}` (create only); returns the revision."""
    key = audit_key(record.id)
    result = await db.txn([Compare(key, 0)], [Op.put(key, record.model_dump(mode="json"))])
    return result.revision


def new_record_id(now: dt.datetime) -> str:
    return new_ulid(now)
