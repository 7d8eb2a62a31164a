"""Every ConfigDB key the application uses, in one place.

Tenant documents (values: JSON of the pydantic model named)::

    t/{tid}/tenant/{tid}               Tenant          (the tenant's own document; kind "tenant", id = tid)
    t/{tid}/user/{user_id}             User
    t/{tid}/number/{e164}              Number          (id = the E.164 number itself)
    t/{tid}/menu/{menu_id}             IvrMenu
    t/{tid}/device/{user_id}/{dev_id}  Device  (prefix t/{tid}/device/{user_id}/ lists a user's devices)
    t/{tid}/policy/outbound            OutboundPolicy  (shared.calls.models; the edge ignores it)
    t/{tid}/callerid/{id}              CallerId        (shared.calls.models; a number brought as caller ID)

Per-tenant index (same transaction as the user document)::

    t/{tid}/idx/ext/{extension}        "user_id"       (JSON string)

Global indexes (same transaction as the document they index)::

    idx/number/{e164}                  "tenant_id"                       (JSON string)
    idx/email/{email}                  {"tenant_id": ..., "user_id": ...} (EmailIndexValue; email lower-cased)
    idx/tenant/{tid}                   {"region": ...}                   (TenantIndexValue; home region)
    idx/inventory/{e164}               InventoryNumber  (the operator's inventory; same transaction as
                                                         the claim or release of idx/number/{e164})

Operator records::

    audit/{ulid}                       AuditRecord     (one per `python -m ops` command)

Outbox (same transaction as the write that triggers the message; `shared/outbox.py`)::

    jobs/outbox/{ulid}                 OutboxEntry     a queue message waiting for the relay

Everything under `t/{tid}/` belongs to one tenant, so `tenant_prefix(tid)` is the tenant's whole
snapshot and deleting a tenant is a prefix delete plus its global index entries.
Key components must be non-empty and must not contain '/'.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Kind = Literal["tenant", "user", "number", "menu", "device"]
KINDS: tuple[str, ...] = ("tenant", "user", "number", "menu", "device")


def _part(value: str, what: str) -> str:
    if not isinstance(value, str) or not value or "/" in value or value.strip() != value:
        raise ValueError(f"invalid {what} for a ConfigDB key: {value!r}")
    return value


# --------------------------------------------------------------------------- tenant documents


def tenant_prefix(tenant_id: str) -> str:
    """`t/{tid}/`: every key of one tenant."""
    return f"t/{_part(tenant_id, 'tenant id')}/"


def prompt_prefix(tenant_id: str) -> str:
    """`t/{tid}/prompt/`: every prompt of one tenant."""
    return f"{tenant_prefix(tenant_id)}prompt/"


def kind_prefix(tenant_id: str, kind: Kind) -> str:
    """`t/{tid}/{kind}/`: all documents of one kind in a tenant."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return f"{tenant_prefix(tenant_id)}{kind}/"


def tenant_key(tenant_id: str) -> str:
    return f"{kind_prefix(tenant_id, 'tenant')}{tenant_id}"


def user_key(tenant_id: str, user_id: str) -> str:
    return f"{kind_prefix(tenant_id, 'user')}{_part(user_id, 'user id')}"


def number_key(tenant_id: str, e164: str) -> str:
    return f"{kind_prefix(tenant_id, 'number')}{_part(e164, 'number')}"


def menu_key(tenant_id: str, menu_id: str) -> str:
    return f"{kind_prefix(tenant_id, 'menu')}{_part(menu_id, 'menu id')}"


def user_devices_prefix(tenant_id: str, user_id: str) -> str:
    return f"{kind_prefix(tenant_id, 'device')}{_part(user_id, 'user id')}/"


def device_key(tenant_id: str, user_id: str, device_id: str) -> str:
    return f"{user_devices_prefix(tenant_id, user_id)}{_part(device_id, 'device id')}"


def caller_id_prefix(tenant_id: str) -> str:
    """`t/{tid}/callerid/`: the caller IDs a tenant brought (verified or being verified)."""
    return f"{tenant_prefix(tenant_id)}callerid/"


def caller_id_key(tenant_id: str, caller_id: str) -> str:
    return f"{caller_id_prefix(tenant_id)}{_part(caller_id, 'caller id')}"


def outbound_policy_key(tenant_id: str) -> str:
    """`t/{tid}/policy/outbound`: the tenant's click-to-call rules (absent: the defaults)."""
    return f"{tenant_prefix(tenant_id)}policy/outbound"


def extension_index_key(tenant_id: str, extension: str) -> str:
    return f"{tenant_prefix(tenant_id)}idx/ext/{_part(extension, 'extension')}"


def extension_index_prefix(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}idx/ext/"


def parse_tenant_key(key: str) -> tuple[str, str, str]:
    """`t/{tid}/{kind}/{id...}` -> (tid, kind, id). For devices id is `{user_id}/{device_id}`;
    for the extension index kind is "idx" and id is `ext/{extension}`."""
    parts = key.split("/", 3)
    if len(parts) != 4 or parts[0] != "t" or not all(parts[1:]):
        raise ValueError(f"not a tenant key: {key!r}")
    return parts[1], parts[2], parts[3]


# --------------------------------------------------------------------------- global indexes


def number_index_key(e164: str) -> str:
    return f"idx/number/{_part(e164, 'number')}"


INVENTORY_PREFIX = "idx/inventory/"
AUDIT_PREFIX = "audit/"


def inventory_key(e164: str) -> str:
    return f"{INVENTORY_PREFIX}{_part(e164, 'number')}"


def audit_key(record_id: str) -> str:
    return f"{AUDIT_PREFIX}{_part(record_id, 'audit record id')}"


def email_index_key(email: str) -> str:
    return f"idx/email/{_part(email.strip().lower(), 'email')}"


def tenant_index_key(tenant_id: str) -> str:
    return f"idx/tenant/{_part(tenant_id, 'tenant id')}"


OUTBOX_PREFIX = "jobs/outbox/"


def outbox_key(entry_id: str) -> str:
    return f"{OUTBOX_PREFIX}{_part(entry_id, 'outbox entry id')}"


class EmailIndexValue(BaseModel):
    """Value of `idx/email/{email}`."""

    model_config = ConfigDict(extra="ignore")

    tenant_id: str
    user_id: str


class TenantIndexValue(BaseModel):
    """Value of `idx/tenant/{tid}`."""

    model_config = ConfigDict(extra="ignore")

    region: str


def field_of_claim(key: str) -> str:
    """The request field a uniqueness claim (an index key) stands for: `email`, `extension`, else `id`."""
    if key.startswith("idx/email/"):
        return "email"
    if "/idx/ext/" in key:
        return "extension"
    return "id"
