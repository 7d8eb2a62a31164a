"""Rates sync (daily): import the carrier rate deck into Blob `rates` as a versioned table.

One run: fetch the deck; if its SHA-256 equals the table in force, nothing to do (`unchanged`).
Otherwise parse it (`shared.billing.services.rates.parse_deck`); an unusable deck (unreadable, no good
row, more than half bad) keeps the table in force. A usable one is written as `rates/v{n+1}.json`
(create-only) and `rates/current.json` is swung to it with a compare-and-swap on its ETag. Every
run also overwrites `rates/last_import.json` with its outcome and the bad rows (line numbers and
reasons), so a rejected deck stays visible.

Overlap: two runs importing the same deck both find `v{n+1}` (one creates it, the other sees
it holds the same deck) and the pointer swap of one of them wins, the other finds the pointer
already on that deck. A run never moves the pointer back to a lower version.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Literal

from pydantic import ValidationError

from shared.billing.ports import ConditionalBlobs, DeckSource
from shared.billing.services.rates import (
    CURRENT_BLOB,
    MAX_REPORTED_BAD_ROWS,
    RATES_CONTAINER,
    BadRow,
    ParsedDeck,
    RatesPointer,
    RateTable,
    build_table,
    parse_deck,
    sha256_hex,
    version_blob,
)
from shared.errors import NotFoundError, Unavailable
from shared.ports import Clock

LAST_IMPORT_BLOB = "last_import.json"
MAX_VERSION_PROBES = 5
MAX_POINTER_SWAPS = 5

Outcome = Literal["published", "unchanged", "unusable", "source_missing", "source_unavailable", "superseded"]


@dataclass
class SyncResult:
    outcome: Outcome
    version: int | None = None  # the version in force after the run
    rows: int = 0  # data rows in the deck
    good: int = 0
    bad: list[BadRow] = field(default_factory=list)
    reason: str | None = None


class RatesSync:
    def __init__(self, source: DeckSource, blobs: ConditionalBlobs, clock: Clock) -> None:
        self.source, self.blobs, self.clock = source, blobs, clock

    async def run(self) -> SyncResult:
        result = await self._run()
        await self._record(result)
        return result

    async def _run(self) -> SyncResult:
        try:
            data = await self.source.fetch()
        except NotFoundError as exc:
            return SyncResult("source_missing", reason=str(exc))
        except Unavailable as exc:
            return SyncResult("source_unavailable", reason=str(exc))
        sha = sha256_hex(data)
        pointer, etag = await self._pointer()
        if pointer is not None and pointer.source_sha256 == sha:
            return SyncResult("unchanged", version=pointer.version, good=pointer.rows)
        parsed = parse_deck(data)
        if not parsed.usable:
            return SyncResult(
                "unusable",
                version=pointer.version if pointer else None,
                rows=parsed.rows,
                good=len(parsed.entries),
                bad=parsed.bad,
                reason=parsed.problem,
            )
        return await self._publish(parsed, sha, pointer, etag)

    async def _pointer(self) -> tuple[RatesPointer | None, str | None]:
        got = await self.blobs.read(RATES_CONTAINER, CURRENT_BLOB)
        if got is None:
            return None, None
        data, etag = got
        try:
            return RatesPointer.model_validate_json(data), etag
        except ValidationError:
            return None, etag  # a broken pointer is replaced by the next good table

    async def _write_version(self, parsed: ParsedDeck, sha: str, first: int) -> RateTable:
        """Create `v{n}.json` for this deck at the first free n >= `first` (or reuse a version a
        concurrent run created for the same deck)."""
        version = first
        for _ in range(MAX_VERSION_PROBES):
            table = build_table(
                parsed, version=version, source=self.source.location, source_sha256=sha, now=self.clock.now()
            )
            name = version_blob(version)
            if await self.blobs.write(RATES_CONTAINER, name, table.model_dump_json().encode(), etag=None):
                return table
            existing = await self.blobs.read(RATES_CONTAINER, name)
            if existing is not None:
                try:
                    other = RateTable.model_validate_json(existing[0])
                except ValidationError:
                    other = None
                if other is not None and other.source_sha256 == sha:
                    return other
            version += 1
        raise Unavailable(f"rates: no free version blob after v{first} ({MAX_VERSION_PROBES} tries)")

    async def _publish(
        self, parsed: ParsedDeck, sha: str, pointer: RatesPointer | None, etag: str | None
    ) -> SyncResult:
        table = await self._write_version(parsed, sha, (pointer.version if pointer else 0) + 1)
        new = RatesPointer(
            version=table.version,
            blob=version_blob(table.version),
            source_sha256=sha,
            published_at=table.published_at,
            rows=len(table.rates),
        )
        done = dict(rows=parsed.rows, good=len(parsed.entries), bad=parsed.bad)
        for _ in range(MAX_POINTER_SWAPS):
            body = new.model_dump_json().encode()
            if await self.blobs.write(RATES_CONTAINER, CURRENT_BLOB, body, etag=etag):
                return SyncResult("published", version=table.version, **done)
            pointer, etag = await self._pointer()  # someone else swung it: look again
            if pointer is not None and pointer.source_sha256 == sha:
                return SyncResult("unchanged", version=pointer.version, **done)
            if pointer is not None and pointer.version >= table.version:
                return SyncResult("superseded", version=pointer.version, **done)
        raise Unavailable("rates: the pointer kept changing under this run")

    async def _record(self, result: SyncResult) -> None:
        """Overwrite `rates/last_import.json` with this run's outcome (best effort)."""
        doc = {
            "at": self.clock.now().astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "source": self.source.location,
            "outcome": result.outcome,
            "version_in_force": result.version,
            "rows": result.rows,
            "good": result.good,
            "bad": len(result.bad),
            "bad_rows": [b.model_dump() for b in result.bad[:MAX_REPORTED_BAD_ROWS]],
            "reason": result.reason,
        }
        got = await self.blobs.read(RATES_CONTAINER, LAST_IMPORT_BLOB)
        await self.blobs.write(
            RATES_CONTAINER,
            LAST_IMPORT_BLOB,
            json.dumps(doc).encode(),
            etag=None if got is None else got[1],
        )
