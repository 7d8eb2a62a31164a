"""The operator's number inventory: the carrier's CSV, the import, and what tenants may claim.

- `parse_inventory_csv` (pure): a header with `number` and `region` (optional `capabilities`,
  `;`-separated, e.g. `voice;sms`), one number per line. Every problem is an
  `InventoryFileInvalid` naming its line.
- `InventoryService.import_rows`: idempotent. A number not yet in the inventory is added as
  `free`, or as `assigned` to its tenant when `idx/number/{e164}` already holds it (a claim made
  before the inventory existed); one already there keeps its state and tenant (an assigned or
  quarantined number is never reset), only its region and capabilities follow the file. New
  numbers are written in batches, each one transaction that compares every key as absent.
- `list` (the operator's view) and `available` (what a tenant of a region may claim now: free, or
  quarantined past `quarantined_until`).
- `claim_check`: the rule `NumbersService.create` applies before it claims `idx/number/{e164}`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass

from shared.configdb_keys import INVENTORY_PREFIX, inventory_key, number_index_key
from shared.directory.models.inventory import (
    CAPABILITY_PATTERN,
    REGION_PATTERN,
    InventoryNumber,
    InventoryState,
)
from shared.documents import IndexChanges, Versioned
from shared.errors import ConflictError, DomainError, InvalidField
from shared.ports import Clock, DocumentRepo
from shared.values import is_e164

NUMBER_INDEX_PREFIX = number_index_key("+").removesuffix("+")  # "idx/number/"
DEFAULT_QUARANTINE = dt.timedelta(days=30)
IMPORT_BATCH = 200
KNOWN_COLUMNS = ("number", "region", "capabilities")
_REGION = re.compile(REGION_PATTERN)
_CAPABILITY = re.compile(CAPABILITY_PATTERN)
_PREFIX = re.compile(r"^\+?[0-9]{0,15}$")


class InventoryFileInvalid(DomainError):
    """422: the inventory file cannot be imported; `line` is the 1-based line of the problem."""

    status = 422
    error_id = "inventory-file-invalid"
    title = "Invalid inventory file"

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}", details={"line": line})
        self.line = line


class NumberNotInInventory(InvalidField):
    """422: only numbers of the operator's inventory can be claimed."""

    error_id = "number-not-in-inventory"  # type: ignore[assignment]
    title = "Number not in inventory"  # type: ignore[assignment]

    def __init__(self, e164: str) -> None:
        super().__init__("/number", f"{e164} is not a number we offer; pick one from /numbers/available")


class NumberInAnotherRegion(InvalidField):
    """422: the number belongs to another region's inventory than the tenant's."""

    error_id = "number-in-another-region"  # type: ignore[assignment]
    title = "Number in another region"  # type: ignore[assignment]

    def __init__(self, e164: str) -> None:
        super().__init__("/number", f"{e164} is not offered in your account's region")


class NumberQuarantined(ConflictError):
    """409: the number was released recently and cannot be claimed before its quarantine ends."""

    error_id = "number-quarantined"
    title = "Number in quarantine"

    def __init__(self, e164: str, until: dt.datetime | None) -> None:
        when = "" if until is None else f" until {until.strftime('%Y-%m-%d')}"
        super().__init__(
            inventory_key(e164), f"{e164} was released recently and is unavailable{when}", pointer="/number"
        )


@dataclass(frozen=True)
class InventoryRow:
    line: int
    number: str
    region: str
    capabilities: tuple[str, ...] = ()


@dataclass
class ImportResult:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


def parse_inventory_csv(text: str) -> list[InventoryRow]:
    """The rows of a carrier inventory CSV; `InventoryFileInvalid` (with its line) on any problem."""
    lines = text.lstrip("\ufeff").splitlines()
    reader = csv.reader(io.StringIO("\n".join(lines)))
    try:
        header = next(reader)
    except StopIteration:
        raise InventoryFileInvalid(1, "the file is empty; expected the header 'number,region'") from None
    columns = [c.strip().lower() for c in header]
    if columns[:2] != ["number", "region"]:
        raise InventoryFileInvalid(1, f"the header must start with 'number,region', not {','.join(header)!r}")
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    if unknown or len(set(columns)) != len(columns):
        what = f"unknown column {unknown[0]!r}" if unknown else "a column appears twice"
        raise InventoryFileInvalid(1, f"{what}; the columns are {', '.join(KNOWN_COLUMNS)}")
    rows: list[InventoryRow] = []
    seen: dict[str, int] = {}
    for line_no, fields in enumerate(reader, start=2):
        if not fields or all(not f.strip() for f in fields):
            continue
        if len(fields) != len(columns):
            raise InventoryFileInvalid(line_no, f"expected {len(columns)} fields, found {len(fields)}")
        values = dict(zip(columns, (f.strip() for f in fields), strict=True))
        number, region = values["number"], values["region"]
        if not is_e164(number):
            raise InventoryFileInvalid(line_no, f"{number!r} is not an E.164 number (e.g. +15551234567)")
        if not _REGION.fullmatch(region) or len(region) > 32:
            raise InventoryFileInvalid(line_no, f"{region!r} is not a region name (lower case, digits, '-')")
        caps = tuple(c.strip().lower() for c in values.get("capabilities", "").split(";") if c.strip())
        bad = [c for c in caps if not _CAPABILITY.fullmatch(c)]
        if bad:
            raise InventoryFileInvalid(line_no, f"{bad[0]!r} is not a capability (e.g. voice;sms)")
        if number in seen:
            raise InventoryFileInvalid(line_no, f"{number} is already on line {seen[number]}")
        seen[number] = line_no
        rows.append(InventoryRow(line_no, number, region, tuple(dict.fromkeys(caps))))
    return rows


def normalise_prefix(prefix: str | None) -> str:
    """A number prefix for searching: digits, with or without the leading '+'; InvalidField otherwise."""
    value = (prefix or "").strip()
    if not _PREFIX.fullmatch(value):
        raise InvalidField("/prefix", "a prefix is digits, optionally after '+', e.g. +1555", status=400)
    return value if value.startswith("+") else f"+{value}"


def claim_check(
    entry: Versioned[InventoryNumber] | None, e164: str, region: str, now: dt.datetime
) -> Versioned[InventoryNumber]:
    """The entry when a tenant of `region` may claim `e164` now; raise why it may not otherwise."""
    if entry is None:
        raise NumberNotInInventory(e164)
    if entry.doc.region != region:
        raise NumberInAnotherRegion(e164)
    state = entry.doc.effective_state(now)
    if state is InventoryState.QUARANTINED:
        raise NumberQuarantined(e164, entry.doc.quarantined_until)
    if state is InventoryState.ASSIGNED:
        raise ConflictError(
            inventory_key(e164), f"{e164} is already assigned to an account", pointer="/number"
        )
    return entry


@dataclass
class InventoryService:
    repo: DocumentRepo
    clock: Clock
    quarantine: dt.timedelta = DEFAULT_QUARANTINE

    async def get(self, e164: str) -> Versioned[InventoryNumber] | None:
        return await self.repo.get(inventory_key(e164), InventoryNumber)

    async def import_rows(self, rows: Iterable[InventoryRow]) -> ImportResult:
        result = ImportResult()
        wanted = {row.number: row for row in rows}
        existing: dict[str, Versioned[InventoryNumber]] = {}
        async for got in self.repo.scan(INVENTORY_PREFIX, InventoryNumber):
            if got.doc.number in wanted:
                existing[got.doc.number] = got
        claimed: dict[str, str] = {}
        async for key, owner in self.repo.scan_raw(NUMBER_INDEX_PREFIX):
            number = key[len(NUMBER_INDEX_PREFIX) :]
            if number in wanted and isinstance(owner, str):
                claimed[number] = owner
        now = self.clock.now()
        new: dict[str, InventoryNumber] = {}
        for number, row in wanted.items():
            current = existing.get(number)
            if current is None:
                doc = InventoryNumber(
                    number=number, region=row.region, capabilities=list(row.capabilities), imported_at=now
                )
                new[inventory_key(number)] = (
                    doc if number not in claimed else doc.assigned_to(claimed[number])
                )
            elif current.doc.region != row.region or current.doc.capabilities != list(row.capabilities):
                await self._refresh(row)
                result.updated += 1
            else:
                result.unchanged += 1
        batch: dict[str, InventoryNumber] = {}
        for key, doc in new.items():
            batch[key] = doc
            if len(batch) == IMPORT_BATCH:
                result.added += await self._add(batch)
                batch = {}
        if batch:
            result.added += await self._add(batch)
        return result

    async def _add(self, batch: dict[str, InventoryNumber]) -> int:
        """Add new entries; when a batch meets one that appeared meanwhile, add them one by one."""
        try:
            await self.repo.create_many(dict(batch))
            return len(batch)
        except ConflictError:
            added = 0
            for key, doc in batch.items():
                try:
                    await self.repo.create(key, doc)
                    added += 1
                except ConflictError:
                    pass  # imported by someone else meanwhile: left as they wrote it
            return added

    async def _refresh(self, row: InventoryRow) -> None:
        """Region and capabilities from the file; state and tenant stay (compare-and-swap, retried)."""
        for _ in range(5):
            current = await self.get(row.number)
            if current is None:
                return
            doc = current.doc.model_copy(
                update={"region": row.region, "capabilities": list(row.capabilities)}
            )
            try:
                await self.repo.update(inventory_key(row.number), doc, current.revision)
                return
            except DomainError:
                continue
        raise ConflictError(inventory_key(row.number), f"{row.number} kept changing during the import")

    async def list(
        self,
        *,
        state: InventoryState | None = None,
        region: str | None = None,
        prefix: str = "+",
        tenant_id: str | None = None,
        limit: int | None = None,
    ) -> list[InventoryNumber]:
        now = self.clock.now()
        out: list[InventoryNumber] = []
        async for got in self.repo.scan(f"{INVENTORY_PREFIX}{prefix}", InventoryNumber):
            doc = got.doc
            if region is not None and doc.region != region:
                continue
            if state is not None and doc.effective_state(now) is not state:
                continue
            if tenant_id is not None and doc.tenant_id != tenant_id:
                continue
            out.append(doc)
            if limit is not None and len(out) >= limit:
                break
        return out

    async def available(self, region: str, prefix: str | None, limit: int) -> list[InventoryNumber]:
        """Numbers a tenant of `region` may claim now, in number order."""
        return await self.list(
            state=InventoryState.FREE, region=region, prefix=normalise_prefix(prefix), limit=limit
        )

    def assignment(self, entry: Versioned[InventoryNumber], tenant_id: str) -> IndexChanges:
        """The inventory side of a claim, for the claim's transaction."""
        key = inventory_key(entry.doc.number)
        return IndexChanges(
            put={key: entry.doc.assigned_to(tenant_id).model_dump(mode="json")},
            expect={key: entry.revision},
        )

    def release(self, entry: Versioned[InventoryNumber] | None) -> IndexChanges:
        """The inventory side of a release: quarantined until now + the quarantine period."""
        if entry is None:
            return IndexChanges()
        key = inventory_key(entry.doc.number)
        until = self.clock.now() + self.quarantine
        return IndexChanges(
            put={key: entry.doc.quarantined(until).model_dump(mode="json")}, expect={key: entry.revision}
        )


__all__ = [
    "DEFAULT_QUARANTINE",
    "ImportResult",
    "InventoryFileInvalid",
    "InventoryRow",
    "InventoryService",
    "NumberInAnotherRegion",
    "NumberNotInInventory",
    "NumberQuarantined",
    "claim_check",
    "normalise_prefix",
    "parse_inventory_csv",
]
