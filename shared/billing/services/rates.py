"""Carrier rates: the rate deck's parser, the published table, and the longest-prefix pricer.

Pure (no I/O) except `load_rate_table` / `RateTableCache`, which read the published table through
a small blob port. `shared/billing/services/rates_sync.py` is the daily job that publishes tables.

- **Deck** (CSV, UTF-8): `prefix,rate_per_min,currency` per line, e.g. `44,0.0250,USD`. An optional
  header line naming the columns, blank lines and `#` comments are skipped. A prefix is 1-15
  digits (a leading `+` is dropped); a rate is a decimal 0..1000 with at most 6 decimals; a
  currency is 3 letters (ISO 4217 style, upper-cased). A row failing any rule, or repeating a
  prefix, is a `BadRow` with its 1-based line number. A deck is *usable* when it has at least one
  good row and at most half of its rows are bad; an unusable deck never replaces the table.
- **Table** (Blob `rates/v{n}.json`, named by the pointer `rates/current.json`): the good rows,
  the deck's SHA-256, and the bad rows (at most `MAX_REPORTED_BAD_ROWS`) for the record.
- **Pricing**: `price_leg(table, number, seconds)` matches the number's digits against the
  longest prefix in the table; the cost is `rate_per_min * ceil(seconds) / 60` (per-second
  billing), rounded half-up to 4 decimals. `leg_price(table, leg)` prices a `Leg` by its
  destination and talk time (answered to ended) for `Leg.price`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from shared.errors import NotFoundError
from shared.history.models.call import Leg, LegPrice
from shared.ports import BlobReader
from shared.values import UtcDatetime

log = logging.getLogger("rates")

RATES_CONTAINER = "rates"
CURRENT_BLOB = "current.json"
MAX_PREFIX_DIGITS = 15
MAX_RATE = Decimal("1000")
MAX_RATE_DECIMALS = 6
MAX_DECK_BYTES = 20 * 1024 * 1024
MAX_DECK_ROWS = 500_000
MAX_BAD_FRACTION = 0.5
MAX_REPORTED_BAD_ROWS = 100
COST_QUANTUM = Decimal("0.0001")

_PREFIX = re.compile(r"^\+?(\d{1,15})$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_HEADER_WORDS = ("prefix", "rate", "currency")


def version_blob(version: int) -> str:
    return f"v{version}.json"


# --------------------------------------------------------------------------- models


class RateEntry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    prefix: str = Field(pattern=r"^\d{1,15}$")
    rate_per_min: Decimal = Field(ge=0, le=MAX_RATE)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class BadRow(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    line: int
    reason: str


class RateTable(BaseModel):
    """One published version of the rates (Blob `rates/v{version}.json`)."""

    model_config = ConfigDict(extra="ignore")

    version: int = Field(ge=1)
    published_at: UtcDatetime
    source: str
    source_sha256: str
    rates: list[RateEntry]
    bad_rows: int = 0
    bad_row_samples: list[BadRow] = Field(default_factory=list)

    _index: dict[str, RateEntry] = PrivateAttr(default_factory=dict)
    _longest: int = PrivateAttr(default=0)

    def model_post_init(self, _: object) -> None:
        self._index = {entry.prefix: entry for entry in self.rates}
        self._longest = max((len(p) for p in self._index), default=0)

    def match(self, number: str) -> RateEntry | None:
        """The entry with the longest prefix of the number's digits, or None."""
        digits = "".join(ch for ch in number if ch.isdigit())
        for length in range(min(len(digits), self._longest), 0, -1):
            entry = self._index.get(digits[:length])
            if entry is not None:
                return entry
        return None


class RatesPointer(BaseModel):
    """Blob `rates/current.json`: which version is in force."""

    model_config = ConfigDict(extra="ignore")

    version: int = Field(ge=1)
    blob: str
    source_sha256: str
    published_at: UtcDatetime
    rows: int = Field(ge=0)


# --------------------------------------------------------------------------- deck parsing


@dataclass
class ParsedDeck:
    entries: list[RateEntry] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    rows: int = 0  # data rows seen (good + bad), header, blanks and comments excluded
    problem: str | None = None  # why the whole deck is unusable, when it is

    @property
    def usable(self) -> bool:
        return self.problem is None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _is_header(cells: list[str]) -> bool:
    first = cells[0].strip().lower() if cells else ""
    return _PREFIX.match(first) is None and any(word in first for word in _HEADER_WORDS)


def _parse_rate(text: str) -> Decimal | str:
    try:
        rate = Decimal(text)
    except InvalidOperation:
        return f"rate {text!r} is not a number"
    if not rate.is_finite():
        return f"rate {text!r} is not finite"
    if rate < 0 or rate > MAX_RATE:
        return f"rate {text} is outside 0..{MAX_RATE}"
    exponent = rate.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_RATE_DECIMALS:
        return f"rate {text} has more than {MAX_RATE_DECIMALS} decimals"
    return rate


def parse_row(cells: list[str]) -> RateEntry | str:
    """One data row as an entry, or the reason it is bad."""
    while cells and not cells[-1].strip():
        cells = cells[:-1]
    if len(cells) != 3:
        return f"expected 3 columns (prefix, rate per minute, currency), got {len(cells)}"
    prefix_text, rate_text, currency_text = (c.strip() for c in cells)
    prefix = _PREFIX.match(prefix_text)
    if prefix is None:
        return f"prefix {prefix_text!r} is not 1-{MAX_PREFIX_DIGITS} digits"
    rate = _parse_rate(rate_text)
    if isinstance(rate, str):
        return rate
    currency = currency_text.upper()
    if _CURRENCY.match(currency) is None:
        return f"currency {currency_text!r} is not a 3-letter code"
    return RateEntry(prefix=prefix.group(1), rate_per_min=rate, currency=currency)


def parse_deck(data: bytes) -> ParsedDeck:
    """Every row of a deck, good or bad, and whether the deck may be published."""
    out = ParsedDeck()
    if len(data) > MAX_DECK_BYTES:
        out.problem = f"deck is larger than {MAX_DECK_BYTES} bytes"
        return out
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        out.problem = f"deck is not UTF-8 text: {exc.reason} at byte {exc.start}"
        return out
    first_line_at: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text, newline=""))
    seen_data = False
    try:
        for cells in reader:
            line = reader.line_num
            if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if not seen_data and _is_header(cells):
                seen_data = True
                continue
            seen_data = True
            out.rows += 1
            if out.rows > MAX_DECK_ROWS:
                out.problem = f"deck has more than {MAX_DECK_ROWS} rows"
                return out
            got = parse_row(cells)
            if isinstance(got, str):
                out.bad.append(BadRow(line=line, reason=got))
            elif got.prefix in first_line_at:
                out.bad.append(
                    BadRow(
                        line=line,
                        reason=f"duplicate prefix {got.prefix} (first on line {first_line_at[got.prefix]})",
                    )
                )
            else:
                first_line_at[got.prefix] = line
                out.entries.append(got)
    except csv.Error as exc:
        out.problem = f"deck is not valid CSV at line {reader.line_num}: {exc}"
        return out
    if not out.entries:
        out.problem = "deck has no valid rows"
    elif len(out.bad) > MAX_BAD_FRACTION * out.rows:
        out.problem = f"{len(out.bad)} of {out.rows} rows are bad (more than {MAX_BAD_FRACTION:.0%})"
    return out


def build_table(
    parsed: ParsedDeck, *, version: int, source: str, source_sha256: str, now: dt.datetime
) -> RateTable:
    return RateTable(
        version=version,
        published_at=now,
        source=source,
        source_sha256=source_sha256,
        rates=sorted(parsed.entries, key=lambda e: e.prefix),
        bad_rows=len(parsed.bad),
        bad_row_samples=parsed.bad[:MAX_REPORTED_BAD_ROWS],
    )


# --------------------------------------------------------------------------- pricing


def price_leg(table: RateTable, number: str, seconds: float) -> tuple[Decimal, str, Decimal] | None:
    """(rate per minute, currency, cost) of `seconds` of talk to `number`, by the longest matching
    prefix; None when no prefix matches. Billing is per started second; cost rounds half-up to
    4 decimals."""
    if seconds < 0 or math.isnan(seconds):
        raise ValueError(f"seconds must be >= 0, got {seconds}")
    entry = table.match(number)
    if entry is None:
        return None
    billed = math.ceil(seconds)
    cost = (entry.rate_per_min * billed / Decimal(60)).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
    return entry.rate_per_min, entry.currency, cost


def leg_price(table: RateTable, leg: Leg) -> LegPrice | None:
    """The price of a forwarded leg (destination, answered to ended), for `Leg.price`; None when
    the leg has no destination or no rate matches. An unanswered leg costs 0 at its rate."""
    if not leg.destination:
        return None
    seconds = 0.0
    if leg.answered_at is not None and leg.ended_at is not None and leg.ended_at > leg.answered_at:
        seconds = (leg.ended_at - leg.answered_at).total_seconds()
    priced = price_leg(table, leg.destination, seconds)
    if priced is None:
        return None
    rate, currency, cost = priced
    return LegPrice(rate_per_min=rate, currency=currency, cost=cost)


# --------------------------------------------------------------------------- loading (edge)


async def load_rate_table(blobs: BlobReader) -> RateTable | None:
    """The table in force (`rates/current.json` -> `rates/v{n}.json`), or None when none has
    been published. `Unavailable` when storage cannot be reached; a pointer or table that does not
    validate is logged and read as None."""
    try:
        pointer = RatesPointer.model_validate_json(await blobs.download(RATES_CONTAINER, CURRENT_BLOB))
        return RateTable.model_validate_json(await blobs.download(RATES_CONTAINER, pointer.blob))
    except NotFoundError:
        return None
    except ValidationError as exc:
        log.warning("rates: the published table does not validate: %s", exc.errors()[:3])
        return None


class RateTableCache:
    """The table for a long-running process (the SIP edge): `refresh()` at start-up and then
    periodically (the sync runs daily; every few minutes is plenty). A failed refresh keeps the
    table already loaded. `table` is None until a table has been published and loaded."""

    def __init__(self, blobs: BlobReader) -> None:
        self.blobs = blobs
        self.table: RateTable | None = None

    async def refresh(self) -> bool:
        """True if a different version was loaded."""
        try:
            pointer = RatesPointer.model_validate_json(
                await self.blobs.download(RATES_CONTAINER, CURRENT_BLOB)
            )
        except NotFoundError:
            return False
        except ValidationError as exc:
            log.warning("rates: the pointer does not validate: %s", exc.errors()[:3])
            return False
        if self.table is not None and self.table.version == pointer.version:
            return False
        try:
            table = RateTable.model_validate_json(await self.blobs.download(RATES_CONTAINER, pointer.blob))
        except (NotFoundError, ValidationError) as exc:
            log.warning("rates: table %s unreadable: %s", pointer.blob, type(exc).__name__)
            return False
        self.table = table
        return True

    def price(self, leg: Leg) -> LegPrice | None:
        return None if self.table is None else leg_price(self.table, leg)
