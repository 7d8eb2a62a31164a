"""The edge's in-memory view of every tenant's configuration, fed from ConfigDB.

`TenantDirectory.apply(key, value)` takes one ConfigDB change (value None = deleted) for keys
under `t/` and `idx/number/` and updates plain dicts, O(1) per change. Values are validated
with the models from `shared.directory.models`; a document that does not validate is logged and
dropped (any earlier version of that key is forgotten too, so the view never serves a document
ConfigDB no longer holds). Keys the edge does not use (prompts, the extension index, other
indexes) are ignored.

Concurrency: every method is synchronous and never awaits, so on one asyncio loop a reader sees
each change either wholly applied or not at all. Stored models are replaced, never mutated, so a
reference taken for a call stays coherent; `tenant_view(tid)` copies one tenant's users and
menus (a few dict copies) for a call that wants one consistent image from start to end.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from shared.directory.models.device import Device
from shared.directory.models.ivr import IvrMenu
from shared.directory.models.number import Number
from shared.directory.models.tenant import Tenant
from shared.directory.models.user import User
from shared.logs import log_event

log = logging.getLogger("sip_edge.directory")

TENANT_PREFIX = "t/"
NUMBER_INDEX_PREFIX = "idx/number/"
PREFIXES: tuple[str, ...] = (TENANT_PREFIX, NUMBER_INDEX_PREFIX)


class DirectoryView(Protocol):
    """What the IVR needs to read: one tenant's users, menus, extensions and devices."""

    def user(self, tenant_id: str, user_id: str) -> User | None: ...

    def menu(self, tenant_id: str, menu_id: str) -> IvrMenu | None: ...

    def user_by_extension(self, tenant_id: str, extension: str) -> User | None: ...

    def devices(self, tenant_id: str, user_id: str) -> list[Device]: ...


def _log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    log_event(log, event, level, **fields)


def decode_value(value: bytes | str | Mapping[str, Any] | Any) -> Any:
    """A ConfigDB value as a Python object: bytes and str are JSON text, anything else (what the
    asyncio client already decoded) is returned as is."""
    if isinstance(value, bytes | bytearray | memoryview):
        return json.loads(bytes(value))
    if isinstance(value, str):
        return json.loads(value)
    return value


def _index_value(value: Any) -> str | None:
    """The tenant id of an `idx/number/` value: a JSON string, or already the decoded string."""
    if isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value).decode("utf-8", "replace")
    if isinstance(value, str):
        text = value.strip()
        if text.startswith('"'):
            try:
                text = json.loads(text)
            except ValueError:
                return None
        return text if isinstance(text, str) and text and "/" not in text else None
    return None


@dataclass(frozen=True, slots=True)
class TenantView:
    """A point-in-time copy of one tenant's users, menus and devices (implements DirectoryView)."""

    tenant_id: str
    tenant: Tenant | None
    users: Mapping[str, User]
    menus: Mapping[str, IvrMenu]
    extensions: Mapping[str, str]
    device_map: Mapping[str, Mapping[str, Device]] = field(default_factory=dict)

    def user(self, tenant_id: str, user_id: str) -> User | None:
        return self.users.get(user_id) if tenant_id == self.tenant_id else None

    def menu(self, tenant_id: str, menu_id: str) -> IvrMenu | None:
        return self.menus.get(menu_id) if tenant_id == self.tenant_id else None

    def user_by_extension(self, tenant_id: str, extension: str) -> User | None:
        if tenant_id != self.tenant_id:
            return None
        uid = self.extensions.get(extension)
        return None if uid is None else self.users.get(uid)

    def devices(self, tenant_id: str, user_id: str) -> list[Device]:
        if tenant_id != self.tenant_id:
            return []
        return list(self.device_map.get(user_id, {}).values())


class _TenantData:
    __slots__ = ("devices", "extensions", "menus", "numbers", "tenant", "users")

    def __init__(self) -> None:
        self.tenant: Tenant | None = None
        self.users: dict[str, User] = {}
        self.menus: dict[str, IvrMenu] = {}
        self.numbers: dict[str, Number] = {}
        self.extensions: dict[str, str] = {}  # extension -> user id
        self.devices: dict[str, dict[str, Device]] = {}  # user id -> device id -> device

    def empty(self) -> bool:
        return self.tenant is None and not (self.users or self.menus or self.numbers or self.devices)


class TenantDirectory:
    """Every tenant's tenant, user, number, menu and device documents plus the global number
    index, by key. Feed it with `apply` / `load`; read it with the lookups."""

    def __init__(self) -> None:
        self._tenants: dict[str, _TenantData] = {}
        self._number_index: dict[str, str] = {}  # e164 -> tenant id (idx/number/)
        self._number_owners: dict[str, set[str]] = {}  # e164 -> tenant ids holding a number document
        self.revision = 0
        """The highest ConfigDB revision applied (snapshot or change)."""
        self.changes = 0
        """How many changes were applied (monotonic; for metrics and tests)."""
        self.rejected = 0
        """How many documents failed validation and were dropped."""

    # ------------------------------------------------------------------ lookups

    def number(self, e164: str) -> tuple[Tenant, Number] | None:
        """The tenant and number document for a dialled E.164 number, or None when the number is
        not assigned. The global index decides the owner; when the index entry is missing but
        exactly one tenant holds the number's document, that tenant is used."""
        tid = self._number_index.get(e164)
        if tid is None:
            owners = self._number_owners.get(e164)
            if not owners or len(owners) != 1:
                return None
            tid = next(iter(owners))
        data = self._tenants.get(tid)
        if data is None or data.tenant is None:
            return None
        num = data.numbers.get(e164)
        return None if num is None else (data.tenant, num)

    def tenant(self, tenant_id: str) -> Tenant | None:
        data = self._tenants.get(tenant_id)
        return None if data is None else data.tenant

    def user(self, tenant_id: str, user_id: str) -> User | None:
        data = self._tenants.get(tenant_id)
        return None if data is None else data.users.get(user_id)

    def menu(self, tenant_id: str, menu_id: str) -> IvrMenu | None:
        data = self._tenants.get(tenant_id)
        return None if data is None else data.menus.get(menu_id)

    def user_by_extension(self, tenant_id: str, extension: str) -> User | None:
        data = self._tenants.get(tenant_id)
        if data is None:
            return None
        uid = data.extensions.get(extension)
        return None if uid is None else data.users.get(uid)

    def devices(self, tenant_id: str, user_id: str) -> list[Device]:
        data = self._tenants.get(tenant_id)
        if data is None:
            return []
        return list(data.devices.get(user_id, {}).values())

    def numbers_of(self, tenant_id: str) -> list[str]:
        """The tenant's numbers (E.164), sorted."""
        data = self._tenants.get(tenant_id)
        return sorted(data.numbers) if data is not None else []

    def tenant_ids(self) -> list[str]:
        return [tid for tid, d in self._tenants.items() if d.tenant is not None]

    def tenant_view(self, tenant_id: str) -> TenantView:
        """A copy of one tenant's users, menus, extensions and devices, for one call."""
        data = self._tenants.get(tenant_id) or _TenantData()
        return TenantView(
            tenant_id=tenant_id,
            tenant=data.tenant,
            users=dict(data.users),
            menus=dict(data.menus),
            extensions=dict(data.extensions),
            device_map={uid: dict(devs) for uid, devs in data.devices.items()},
        )

    def counts(self) -> dict[str, int]:
        """Document counts by kind (for logs and /metrics)."""
        out = {"tenant": 0, "user": 0, "menu": 0, "number": 0, "device": 0}
        for d in self._tenants.values():
            out["tenant"] += d.tenant is not None
            out["user"] += len(d.users)
            out["menu"] += len(d.menus)
            out["number"] += len(d.numbers)
            out["device"] += sum(len(v) for v in d.devices.values())
        out["number_index"] = len(self._number_index)
        return out

    # ------------------------------------------------------------------ updates

    def load(self, prefix: str, items: Iterable[tuple[str, Any]], revision: int) -> int:
        """Replace everything under `prefix` (`t/` or `idx/number/`) with `items` (key, value)
        at `revision`: the answer to a snapshot or a `Resync`. Returns how many were applied."""
        self.clear(prefix)
        n = 0
        for key, value in items:
            n += self.apply(key, value)
        self.revision = max(self.revision, revision)
        return n

    def clear(self, prefix: str) -> None:
        """Forget every key under `prefix` (`t/` or `idx/number/`, or one tenant's `t/{tid}/`)."""
        if prefix == NUMBER_INDEX_PREFIX:
            self._number_index.clear()
        elif prefix == TENANT_PREFIX:
            self._tenants.clear()
            self._number_owners.clear()
        elif prefix.startswith(TENANT_PREFIX) and prefix.count("/") == 2:
            tid = prefix[len(TENANT_PREFIX) : -1]
            data = self._tenants.pop(tid, None)
            if data is not None:
                for e164 in data.numbers:
                    self._drop_owner(e164, tid)
        else:
            raise ValueError(f"cannot clear {prefix!r}: use 't/', 't/{{tid}}/' or 'idx/number/'")

    def apply(self, key: str, value: bytes | str | Any | None, revision: int | None = None) -> bool:
        """Apply one change (value None = the key was deleted). Returns True when the key is one
        the directory keeps. Never raises on bad input: it is logged and dropped."""
        if revision is not None and revision > self.revision:
            self.revision = revision
        try:
            if key.startswith(NUMBER_INDEX_PREFIX):
                return self._apply_index(key[len(NUMBER_INDEX_PREFIX) :], value)
            if key.startswith(TENANT_PREFIX):
                return self._apply_tenant_key(key, value)
        except (ValueError, TypeError) as exc:  # undecodable JSON, a value of the wrong shape
            self.rejected += 1
            _log_event("config_rejected", logging.WARNING, key=key, reason=str(exc)[:300])
            self._forget(key)
        return False

    # ------------------------------------------------------------------ internals

    def _apply_index(self, e164: str, value: Any) -> bool:
        if not e164 or "/" in e164:
            return False
        self.changes += 1
        if value is None:
            self._number_index.pop(e164, None)
            return True
        tid = _index_value(value)
        if tid is None:
            raise ValueError(f"number index value is not a tenant id: {str(value)[:80]!r}")
        self._number_index[e164] = tid
        return True

    def _apply_tenant_key(self, key: str, value: Any) -> bool:
        parts = key.split("/", 3)
        if len(parts) != 4 or not all(parts[1:]):
            return False
        _, tid, kind, rest = parts
        handler = self._HANDLERS.get(kind)
        if handler is None:
            return False  # prompts, the extension index, future kinds
        self.changes += 1
        if value is None:
            self._delete(tid, kind, rest)
            return True
        doc = decode_value(value)
        model = self._MODELS[kind]
        try:
            parsed = model.model_validate(doc)
        except ValidationError as exc:
            raise ValueError(f"invalid {kind} document: {_short(exc)}") from None
        handler(self, tid, rest, parsed)
        return True

    def _data(self, tid: str) -> _TenantData:
        data = self._tenants.get(tid)
        if data is None:
            data = self._tenants[tid] = _TenantData()
        return data

    def _put_tenant(self, tid: str, rest: str, doc: Tenant) -> None:
        if doc.id != tid or rest != tid:
            raise ValueError(f"tenant document id {doc.id!r} does not match its key")
        self._data(tid).tenant = doc

    def _put_user(self, tid: str, rest: str, doc: User) -> None:
        if doc.id != rest or doc.tenant_id != tid:
            raise ValueError(f"user document ids ({doc.tenant_id}/{doc.id}) do not match its key")
        data = self._data(tid)
        old = data.users.get(rest)
        if old is not None and old.extension and data.extensions.get(old.extension) == rest:
            del data.extensions[old.extension]
        data.users[rest] = doc
        if doc.extension:
            data.extensions[doc.extension] = rest

    def _put_menu(self, tid: str, rest: str, doc: IvrMenu) -> None:
        if doc.id != rest or doc.tenant_id != tid:
            raise ValueError(f"menu document ids ({doc.tenant_id}/{doc.id}) do not match its key")
        self._data(tid).menus[rest] = doc

    def _put_number(self, tid: str, rest: str, doc: Number) -> None:
        if doc.number != rest or doc.tenant_id != tid:
            raise ValueError(f"number document ({doc.tenant_id}/{doc.number}) does not match its key")
        self._data(tid).numbers[rest] = doc
        self._number_owners.setdefault(rest, set()).add(tid)

    def _put_device(self, tid: str, rest: str, doc: Device) -> None:
        uid, _, did = rest.partition("/")
        if not did or doc.id != did or doc.user_id != uid:
            raise ValueError(f"device document ({doc.user_id}/{doc.id}) does not match its key")
        self._data(tid).devices.setdefault(uid, {})[did] = doc

    _HANDLERS: dict[str, Any] = {
        "tenant": _put_tenant,
        "user": _put_user,
        "menu": _put_menu,
        "number": _put_number,
        "device": _put_device,
    }
    _MODELS: dict[str, type[BaseModel]] = {
        "tenant": Tenant,
        "user": User,
        "menu": IvrMenu,
        "number": Number,
        "device": Device,
    }

    def _delete(self, tid: str, kind: str, rest: str) -> None:
        data = self._tenants.get(tid)
        if data is None:
            return
        if kind == "tenant":
            data.tenant = None
        elif kind == "user":
            old = data.users.pop(rest, None)
            if old is not None and old.extension and data.extensions.get(old.extension) == rest:
                del data.extensions[old.extension]
        elif kind == "menu":
            data.menus.pop(rest, None)
        elif kind == "number":
            if data.numbers.pop(rest, None) is not None:
                self._drop_owner(rest, tid)
        elif kind == "device":
            uid, _, did = rest.partition("/")
            devs = data.devices.get(uid)
            if devs is not None:
                devs.pop(did, None)
                if not devs:
                    del data.devices[uid]
        if data.empty():
            del self._tenants[tid]

    def _drop_owner(self, e164: str, tid: str) -> None:
        owners = self._number_owners.get(e164)
        if owners is not None:
            owners.discard(tid)
            if not owners:
                del self._number_owners[e164]

    def _forget(self, key: str) -> None:
        """A key whose new value was rejected: drop its old value too (ConfigDB no longer holds it)."""
        try:
            if key.startswith(NUMBER_INDEX_PREFIX):
                self._number_index.pop(key[len(NUMBER_INDEX_PREFIX) :], None)
                return
            parts = key.split("/", 3)
            if len(parts) == 4 and parts[2] in self._HANDLERS:
                self._delete(parts[1], parts[2], parts[3])
        except Exception:  # pragma: no cover - defensive: forgetting must never raise
            log.exception("forget failed for %s", key)


def _short(exc: ValidationError) -> str:
    errs = exc.errors()[:3]
    return "; ".join(f"{'/'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errs)


__all__ = [
    "NUMBER_INDEX_PREFIX",
    "PREFIXES",
    "TENANT_PREFIX",
    "DirectoryView",
    "TenantDirectory",
    "TenantView",
    "decode_value",
]
