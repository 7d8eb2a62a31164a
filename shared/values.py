"""Value types shared by every model: E.164 numbers, ids, UTC timestamps, weekdays,
time-of-day ranges, business hours, holidays, entry points, IANA time zones and locales.

Everything here is pure: nothing reads the clock, the network or the disk (the IANA zone list
comes from the system tz database through `zoneinfo`). Functions that need "now" take it as an
argument.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import os
import re
import uuid
import zoneinfo
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

# --------------------------------------------------------------------------- base classes


class InputModel(BaseModel):
    """Base for request bodies: unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class StoredModel(BaseModel):
    """Base for documents kept in ConfigDB.

    Unknown fields are ignored (not rejected) so a node running older code can still read a
    document written by newer code during a rolling upgrade. `validate_assignment` keeps
    in-place edits honest.
    """

    model_config = ConfigDict(extra="ignore", validate_assignment=True)


class OutputModel(BaseModel):
    """Base for response bodies. Built from stored models with `model_validate(stored.model_dump())`:
    fields the output model does not declare (secrets) are dropped."""

    model_config = ConfigDict(extra="ignore")


class PatchModel(InputModel):
    """Base for partial updates (PATCH bodies).

    Every field is optional; only fields the client sent count (`model_dump(exclude_unset=True)`).
    Sending an explicit `null` is allowed only for fields named in `_nullable`; for the others it is
    an error ("cannot be null") rather than a silent "unset".
    """

    _nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PatchModel:
        bad = [
            name
            for name in self.model_fields_set
            if getattr(self, name) is None and name not in self._nullable
        ]
        if bad:
            raise ValueError(
                f"field(s) {', '.join(sorted(bad))} cannot be null; omit them to leave unchanged"
            )
        return self

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, as plain JSON-able values."""
        return self.model_dump(mode="json", exclude_unset=True)


M = TypeVar("M", bound=BaseModel)


def apply_patch(doc: M, patch: PatchModel, *, skip: frozenset[str] = frozenset()) -> M:
    """A new, re-validated copy of `doc` with the sent fields of `patch` applied (fields in `skip`
    are left to the caller, e.g. a plain PIN that must be hashed first)."""
    data = doc.model_dump(mode="json")
    for key, value in patch.changes().items():
        if key not in skip:
            data[key] = value
    return type(doc).model_validate(data)


# --------------------------------------------------------------------------- names

_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _check_single_line(value: str) -> str:
    if _CONTROL_RE.search(value):
        raise ValueError("must be a single line of text: no line breaks, tabs or other control characters")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


DisplayName = Annotated[
    str, Field(min_length=1, max_length=100, examples=["Acme Dental"]), AfterValidator(_check_single_line)
]
"""A name people read (a company, a person): one line of at most 100 characters, no control
characters. Names reach email headers and SIP display names, where a CR/LF would start a new
header; they are refused at input (422), not stripped, so what is stored is what was typed."""


# --------------------------------------------------------------------------- phone numbers

E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")


def _check_e164(value: str) -> str:
    if not E164_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an E.164 number: '+' then country code and number, 2-15 digits, "
            "no spaces, e.g. +15551234567"
        )
    return value


E164 = Annotated[
    str,
    Field(
        strict=True,
        examples=["+15551234567"],
        json_schema_extra={"pattern": r"^\+[1-9][0-9]{1,14}$"},  # documents _check_e164
    ),
    AfterValidator(_check_e164),
]
"""A phone number in E.164: `+` followed by 2-15 digits, first digit not 0. Not normalised:
"+1 555 ..." is rejected rather than guessed at."""


def is_e164(value: object) -> bool:
    return isinstance(value, str) and E164_RE.fullmatch(value) is not None


# --------------------------------------------------------------------------- ids

ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _check_id(value: str) -> str:
    if ULID_RE.fullmatch(value.upper()) and len(value) == 26:
        return value.upper()
    if UUID4_RE.fullmatch(value.lower()):
        return value.lower()
    raise ValueError(f"{value!r} is not an id: expected a ULID (26 chars) or a UUID4 string")


Id = Annotated[str, Field(strict=True, examples=["01J9Z3K4M5N6P7Q8R9S0T1V2W3"]), AfterValidator(_check_id)]
"""A ULID (canonical upper case) or a UUID4 (canonical lower case). Input is normalised to
canonical case."""


def is_id(value: object) -> bool:
    try:
        return isinstance(value, str) and bool(_check_id(value))
    except ValueError:
        return False


def new_ulid(at: dt.datetime, randomness: bytes | None = None) -> str:
    """A ULID for time `at` (aware). `randomness` (10 bytes) defaults to os.urandom(10); pass it
    in for deterministic tests."""
    if at.tzinfo is None:
        raise ValueError("new_ulid needs an aware datetime")
    rnd = os.urandom(10) if randomness is None else randomness
    if len(rnd) != 10:
        raise ValueError("ULID randomness must be 10 bytes")
    ms = int(at.timestamp() * 1000)
    if not 0 <= ms < 2**48:
        raise ValueError("time out of ULID range")
    n = (ms << 80) | int.from_bytes(rnd, "big")
    return "".join(_CROCKFORD[(n >> (5 * i)) & 31] for i in range(25, -1, -1))


def new_uuid4() -> str:
    return str(uuid.uuid4())


# --------------------------------------------------------------------------- times


def _check_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(
            "timestamp needs a time zone; send UTC ISO-8601 with a 'Z', e.g. 2025-01-31T09:00:00Z"
        )
    return value.astimezone(dt.UTC)


def format_utc(value: dt.datetime) -> str:
    """ISO-8601 in UTC with a `Z` suffix (microseconds only when non-zero)."""
    value = _check_utc(value)
    text = value.replace(tzinfo=None).isoformat(timespec="microseconds" if value.microsecond else "seconds")
    return text + "Z"


UtcDatetime = Annotated[
    dt.datetime,
    AfterValidator(_check_utc),
    PlainSerializer(format_utc, return_type=str, when_used="json"),
]
"""An aware datetime, converted to UTC; naive input is rejected; JSON output ends in `Z`."""


class Weekday(enum.StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"

    @property
    def index(self) -> int:
        """0 for Monday .. 6 for Sunday, like `date.weekday()`."""
        return list(Weekday).index(self)

    @classmethod
    def of(cls, day: dt.date) -> Weekday:
        return list(cls)[day.weekday()]


_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")


def _check_hhmm(value: str) -> str:
    if not _HHMM_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a time of day: use 24-hour 'HH:MM', 00:00 to 24:00")
    return value


TimeOfDay = Annotated[str, Field(strict=True, examples=["09:00"]), AfterValidator(_check_hhmm)]
"""Wall-clock 'HH:MM' (24-hour). '24:00' is allowed as the end of a range (midnight)."""


def minutes_of(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def _split_range_string(value: Any) -> Any:
    if isinstance(value, str):
        parts = value.split("-")
        if len(parts) != 2:
            raise ValueError(f"{value!r} is not a time range: use 'HH:MM-HH:MM' or {{start, end}}")
        return {"start": parts[0].strip(), "end": parts[1].strip()}
    return value


class _TimeRange(BaseModel):
    """An open range on one day, [start, end). Accepts {"start": "09:00", "end": "17:30"} or the
    string "09:00-17:30"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: TimeOfDay
    end: TimeOfDay

    @model_validator(mode="after")
    def _ordered(self) -> _TimeRange:
        if self.start == "24:00":
            raise ValueError("a range cannot start at 24:00")
        if minutes_of(self.start) >= minutes_of(self.end):
            raise ValueError(f"range {self.start}-{self.end}: start must be before end")
        return self

    def contains(self, minute_of_day: int) -> bool:
        return minutes_of(self.start) <= minute_of_day < minutes_of(self.end)


TimeRange = Annotated[_TimeRange, BeforeValidator(_split_range_string)]
TimeRangeModel = _TimeRange  # the class, for isinstance checks and construction


def _check_day_ranges(value: dict[Weekday, list[_TimeRange]]) -> dict[Weekday, list[_TimeRange]]:
    out: dict[Weekday, list[_TimeRange]] = {}
    for day in Weekday:  # canonical order
        ranges = value.get(day)
        if ranges is None:
            continue
        ordered = sorted(ranges, key=lambda r: minutes_of(r.start))
        for prev, cur in itertools.pairwise(ordered):
            if minutes_of(cur.start) < minutes_of(prev.end):
                raise ValueError(
                    f"{day.value}: ranges {prev.start}-{prev.end} and {cur.start}-{cur.end} overlap"
                )
        out[day] = ordered
    return out


MAX_RANGES_PER_DAY = 12

BusinessHours = Annotated[
    dict[Weekday, Annotated[list[TimeRange], Field(max_length=MAX_RANGES_PER_DAY)]],
    AfterValidator(_check_day_ranges),
]
"""Open ranges per weekday in the tenant's local time, e.g. {"mon": ["09:00-12:00", "13:00-17:30"]}.
A weekday that is missing or has an empty list is closed all day. Ranges may touch (12:00-13:00,
13:00-14:00) but not overlap; they come back sorted. At most `MAX_RANGES_PER_DAY` ranges a day
(with the 366 holidays and the other bounded fields, a tenant document stays under 64 KB)."""


def _holiday_from_date(value: Any) -> Any:
    if isinstance(value, str | dt.date):
        return {"date": value}
    return value


class _Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date: dt.date
    name: str | None = Field(default=None, max_length=100)


Holiday = Annotated[_Holiday, BeforeValidator(_holiday_from_date)]
HolidayModel = _Holiday
"""A local calendar date on which the tenant is closed all day; accepts "2025-12-25" or
{"date": "2025-12-25", "name": "Christmas"}."""


def _check_unique_holidays(value: list[_Holiday]) -> list[_Holiday]:
    seen: set[dt.date] = set()
    for h in value:
        if h.date in seen:
            raise ValueError(f"holiday {h.date.isoformat()} is listed twice")
        seen.add(h.date)
    return sorted(value, key=lambda h: h.date)


Holidays = Annotated[list[Holiday], Field(max_length=366), AfterValidator(_check_unique_holidays)]


# --------------------------------------------------------------------------- zones and locales


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _check_zone(value: str) -> str:
    if value not in _zones():
        raise ValueError(f"{value!r} is not an IANA time zone, e.g. 'America/New_York' or 'Europe/Berlin'")
    return value


TimeZoneName = Annotated[str, Field(strict=True, examples=["America/New_York"]), AfterValidator(_check_zone)]

_LOCALE_RE = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-([A-Z]{2}|\d{3}))?$")


def _check_locale(value: str) -> str:
    # canonical case: language lower, script title, region upper
    parts = value.replace("_", "-").split("-")
    canon = [parts[0].lower()]
    for p in parts[1:]:
        canon.append(p.title() if len(p) == 4 else p.upper())
    text = "-".join(canon)
    if not _LOCALE_RE.fullmatch(text):
        raise ValueError(f"{value!r} is not a BCP 47 locale such as 'en-US', 'fr-CA' or 'zh-Hant-TW'")
    return text


Locale = Annotated[str, Field(strict=True, examples=["en-US"]), AfterValidator(_check_locale)]
"""A BCP 47 tag limited to language[-Script][-REGION], normalised to canonical case ('en_us' -> 'en-US')."""


# --------------------------------------------------------------------------- entry points


class EntryPoint(BaseModel):
    """Where a call starts: an IVR menu or a user (ringing their forwarding numbers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["menu", "user"]
    id: Id
