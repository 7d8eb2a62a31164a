"""The outbound policy: which numbers a tenant's click-to-calls may ring, and for how long.

Pure rules first (no I/O), then `OutboundPolicyService` over the ports:

- `classify(number)`: the number's country (ISO 3166-1 alpha-2, by `phonenumbers`) and whether it
  is premium-rate or shared-cost (`PhoneNumberType.PREMIUM_RATE`, `SHARED_COST`; for a number
  `phonenumbers` does not know as valid, the region's premium and shared-cost patterns), a
  satellite or international-network number (`SATELLITE_CODES`), or not dialable at all.
  Those kinds are refused whatever the policy says: they are where toll fraud sends its calls.
- `home_country(numbers, locale)`: the country of the tenant's first number that has one, else
  the region of its locale ("en-US" -> "US"). With no `allowed_countries` set, it is the only
  country a tenant may call.
- `call_budget_s(...)`: how long the next call may last within the monthly spend cap, priced by
  the carrier rate deck (both legs: the user's phone and the destination). What is left of the
  cap is split by the concurrent-call limit, so calls running at once cannot pass it together.
- `month_spend(calls, currency)`: what the priced legs of a month's call records cost.
- `refuse_blocked_forwarding(numbers)`: a user's forwarding numbers are checked when they are
  set (`UsersService`), since inbound calls are forwarded to them too: never premium-rate,
  shared-cost, satellite or undialable (422 `forwarding-number-not-allowed`).

Both the destination and the caller's own forwarding number are checked: a member sets their
forwarding number themselves, and it is the first leg the edge places.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol

import phonenumbers
from phonenumbers import PhoneNumberType
from phonenumbers.phonemetadata import PhoneMetadata

from shared.billing.services.rates import RateTable, RateTableCache
from shared.calls.errors import (
    CountryNotAllowed,
    ForwardingNumberRefused,
    LegName,
    NotDialable,
    NotPriced,
    PremiumRateRefused,
    RatesUnavailable,
    SatelliteRefused,
    SpendCapReached,
)
from shared.calls.models import OutboundPolicy, OutboundPolicyIn, OutboundPolicyOut
from shared.configdb_keys import kind_prefix, outbound_policy_key
from shared.directory.models.number import Number
from shared.directory.models.tenant import Tenant
from shared.directory.services.access import is_manager
from shared.documents import Versioned
from shared.errors import Forbidden, InvalidField, PreconditionFailed
from shared.history.models.call import CallRecord
from shared.ports import BlobReader, Clock, DocumentRepo
from shared.security.tokens import Principal

log = logging.getLogger("shared.calls")

# Country calling codes of satellite and international networks, refused whatever the policy:
#   870         Inmarsat SNAC (and 871-874, its former ocean-region codes, still routed by some carriers)
#   881         Global Mobile Satellite System (Iridium, Globalstar, Thuraya, ...)
#   882, 883    International Networks (maritime, aeronautical and global mobile operators)
SATELLITE_CODES: frozenset[int] = frozenset({870, 871, 872, 873, 874, 881, 882, 883})
# Non-geographic codes that are premium or shared cost as a whole: 979 International Premium
# Rate Service, 808 International Shared Cost Service.
PREMIUM_CODES: frozenset[int] = frozenset({979, 808})
NON_GEOGRAPHIC = "001"  # phonenumbers' region of +800, +808, +870, +878, +881-883, +888, +979
ALWAYS_BLOCKED = [
    "premium-rate numbers",
    "shared-cost numbers (and +979, +808)",
    "satellite and international-network numbers (+870-874, +881, +882, +883)",
]
MIN_CALL_S = 30  # a call the cap leaves less time than this for is refused
MAX_SPEND_PAGES = 40  # of 500 call records: the month's spend reads at most 20,000 calls
RATES_REFRESH_S = 60.0

Kind = Literal["ok", "premium", "satellite", "not_dialable"]


# --------------------------------------------------------------------------- pure rules


@dataclass(frozen=True)
class NumberClass:
    number: str
    country: str | None  # ISO 3166-1 alpha-2; None for non-geographic codes (+800, +881, ...)
    kind: Kind


def classify(number: str) -> NumberClass:
    """The number's country and kind (see the module docstring)."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return NumberClass(number, None, "not_dialable")
    code = parsed.country_code
    region = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(code)
    country = region if region in phonenumbers.SUPPORTED_REGIONS else None
    if code in SATELLITE_CODES:
        return NumberClass(number, None, "satellite")
    if code in PREMIUM_CODES:
        return NumberClass(number, None, "premium")
    if not phonenumbers.is_possible_number(parsed):
        return NumberClass(number, country, "not_dialable")
    if _premium(parsed, region):
        return NumberClass(number, country, "premium")
    return NumberClass(number, country, "ok")


def _premium(parsed: phonenumbers.PhoneNumber, region: str) -> bool:
    if phonenumbers.is_valid_number(parsed):
        return phonenumbers.number_type(parsed) in (PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST)
    # not known as valid (an unassigned range): still refuse what matches the premium patterns
    meta = (
        PhoneMetadata.metadata_for_nongeo_region(parsed.country_code)
        if region == NON_GEOGRAPHIC
        else PhoneMetadata.metadata_for_region(region)
    )
    if meta is None:
        return False
    national = phonenumbers.national_significant_number(parsed)
    for desc in (meta.premium_rate, meta.shared_cost):
        pattern = desc.national_number_pattern if desc is not None else None
        if pattern and re.fullmatch(pattern, national):
            return True
    return False


def home_country(numbers: Iterable[str], locale: str | None) -> str | None:
    """The country of the first number (in order) that has one, else the locale's region."""
    for number in numbers:
        country = classify(number).country
        if country is not None:
            return country
    region = (locale or "").replace("_", "-").split("-")[-1].upper()
    return region if region in phonenumbers.SUPPORTED_REGIONS else None


def effective_countries(policy: OutboundPolicyIn, home: str | None) -> list[str]:
    if policy.allowed_countries is not None:
        return sorted(policy.allowed_countries)
    return [home] if home else []


def check_number(number: str, leg: LegName, allowed: list[str]) -> NumberClass:
    """Raise the refusal for a number the policy does not let a call ring; else its class."""
    got = classify(number)
    if got.kind == "not_dialable":
        raise NotDialable(number, leg)
    if got.kind == "satellite":
        raise SatelliteRefused(number, leg)
    if got.kind == "premium":
        raise PremiumRateRefused(number, leg)
    if got.country is None or got.country not in allowed:
        raise CountryNotAllowed(number, leg, got.country, allowed)
    return got


def refuse_blocked_forwarding(numbers: Iterable[str], pointer: str = "/forwarding_numbers") -> None:
    """`ForwardingNumberRefused` at the first of a user's forwarding numbers that is premium-rate,
    shared-cost, satellite or not dialable: inbound calls are forwarded to them at the tenant's cost."""
    for i, number in enumerate(numbers):
        kind = classify(number).kind
        if kind != "ok":
            why = {
                "premium": "is a premium-rate or shared-cost number",
                "satellite": "is a satellite or international-network number",
            }.get(kind, "is not a number that can be dialled")
            raise ForwardingNumberRefused(f"{pointer}/{i}", f"{number} {why}, which calls never ring")


def month_start(now: dt.datetime) -> dt.datetime:
    return now.astimezone(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def month_spend(calls: Iterable[CallRecord], currency: str) -> Decimal:
    """What the priced legs of `calls` cost, in `currency` (legs priced in another are skipped)."""
    total = Decimal(0)
    for call in calls:
        for leg in call.legs:
            if leg.price is not None and leg.price.currency == currency:
                total += leg.price.cost
    return total


def call_budget_s(
    cap: Decimal, spent: Decimal, rate_per_min: Decimal, max_concurrent: int, max_duration_s: int
) -> int | None:
    """Seconds the next call may last: its share of what is left of `cap` (split by
    `max_concurrent`) at `rate_per_min` (both legs together), at most `max_duration_s`. None when
    that leaves less than `MIN_CALL_S`: the cap is reached."""
    if max_concurrent < 1 or max_duration_s < 1 or rate_per_min < 0:
        raise ValueError("limits must be positive")
    left = cap - spent
    if left <= 0:
        return None
    if rate_per_min == 0:
        return max_duration_s
    seconds = math.floor(left / max_concurrent / rate_per_min * 60)
    seconds = min(seconds, max_duration_s)
    return seconds if seconds >= MIN_CALL_S else None


# --------------------------------------------------------------------------- service


class SpendHistory(Protocol):
    """The History DB as the spend cap reads it (`AsyncHistoryStore.list_calls`)."""

    async def list_calls(self, tenant_id: str, **kwargs: Any) -> Any: ...


class RatesInForce:
    """The carrier rate table in force (Blob `rates/current.json`), reloaded at most every
    `RATES_REFRESH_S` seconds; a failed reload keeps the table already loaded."""

    def __init__(self, blobs: BlobReader, clock: Clock) -> None:
        self.cache = RateTableCache(blobs)
        self.clock = clock
        self._loaded_at: dt.datetime | None = None
        self._lock = asyncio.Lock()

    async def table(self) -> RateTable | None:
        async with self._lock:
            now = self.clock.now()
            if self._loaded_at is None or (now - self._loaded_at).total_seconds() >= RATES_REFRESH_S:
                try:
                    await self.cache.refresh()
                    self._loaded_at = now
                except Exception as exc:  # storage unreachable: keep what is loaded
                    log.warning(
                        "rates reload failed", extra={"event": "rates_reload_failed", "error": repr(exc)}
                    )
            return self.cache.table


@dataclass(frozen=True)
class Clearance:
    """What a call cleared by the policy may do (sent to the edge, which enforces it)."""

    max_duration_s: int
    max_concurrent_calls: int
    calls_per_minute: int


class OutboundPolicyService:
    def __init__(self, repo: DocumentRepo, history: SpendHistory, rates: RatesInForce, clock: Clock) -> None:
        self.repo, self.history, self.rates, self.clock = repo, history, rates, clock

    async def stored(self, tenant_id: str) -> Versioned[OutboundPolicy] | None:
        return await self.repo.get(outbound_policy_key(tenant_id), OutboundPolicy)

    async def home_of(self, tenant: Tenant) -> str | None:
        numbers = await self.repo.list(kind_prefix(tenant.id, "number"), Number)
        return home_country(sorted(n.doc.number for n in numbers), tenant.locale)

    async def view(self, who: Principal, tenant: Tenant) -> tuple[OutboundPolicyOut, int]:
        """The policy in force and its revision (0: never set, the defaults)."""
        got = await self.stored(who.tenant_id)
        policy = got.doc if got is not None else OutboundPolicy()
        return await self._out(tenant, policy), (got.revision if got is not None else 0)

    async def replace(
        self, who: Principal, tenant: Tenant, body: OutboundPolicyIn, if_match: int | None
    ) -> tuple[OutboundPolicyOut, int]:
        if not is_manager(who):
            raise Forbidden("only owners and admins change the outbound policy")
        for i, country in enumerate(body.allowed_countries or []):
            if country not in phonenumbers.SUPPORTED_REGIONS:
                raise InvalidField(f"/allowed_countries/{i}", f"{country} is not a country code")
        key = outbound_policy_key(who.tenant_id)
        cur = await self.stored(who.tenant_id)
        current = cur.revision if cur is not None else 0
        if if_match is not None and if_match != current:
            raise PreconditionFailed(key, current)
        new = OutboundPolicy(**body.model_dump(), updated_at=self.clock.now(), updated_by=who.user_id)
        if cur is None:
            revision = await self.repo.create(key, new)
        else:
            revision = await self.repo.update(key, new, current)
        log.info(
            "outbound policy changed",
            extra={
                "event": "outbound_policy_changed",
                "tenant_id": who.tenant_id,
                "user_id": who.user_id,
                "allowed_countries": new.allowed_countries,
                "monthly_spend_cap": str(new.monthly_spend_cap),
            },
        )
        return await self._out(tenant, new), revision

    async def clear(self, tenant: Tenant, forwarding_number: str, destination: str) -> Clearance:
        """Check a click-to-call against the tenant's policy; raise the refusal, or return the
        limits the edge enforces for it."""
        got = await self.stored(tenant.id)
        policy = got.doc if got is not None else OutboundPolicy()
        allowed = effective_countries(policy, await self.home_of(tenant))
        check_number(destination, "destination", allowed)
        check_number(forwarding_number, "forwarding_number", allowed)
        table = await self.rates.table()
        if table is None:
            raise RatesUnavailable("no carrier rate table is published")
        to_dest, to_user = table.match(destination), table.match(forwarding_number)
        if to_dest is None:
            raise NotPriced(destination, "destination")
        if to_user is None or to_user.currency != to_dest.currency:
            raise NotPriced(forwarding_number, "forwarding_number")
        spent = await self.spent(tenant.id, to_dest.currency)
        budget = call_budget_s(
            policy.monthly_spend_cap,
            spent,
            to_dest.rate_per_min + to_user.rate_per_min,
            policy.max_concurrent_calls,
            policy.max_call_duration_s,
        )
        if budget is None:
            raise SpendCapReached(str(policy.monthly_spend_cap), str(spent), to_dest.currency)
        return Clearance(budget, policy.max_concurrent_calls, policy.calls_per_minute)

    async def spent(self, tenant_id: str, currency: str) -> Decimal:
        """What the tenant's priced legs of this UTC month cost, in `currency`."""
        since = month_start(self.clock.now())
        total, cursor = Decimal(0), None
        for _ in range(MAX_SPEND_PAGES):
            page = await self.history.list_calls(tenant_id, since=since, limit=500, cursor=cursor)
            total += month_spend(page.items, currency)
            cursor = page.next_cursor
            if cursor is None:
                break
        return total

    async def _out(self, tenant: Tenant, policy: OutboundPolicy) -> OutboundPolicyOut:
        home = await self.home_of(tenant)
        table = await self.rates.table()
        currency = table.rates[0].currency if table is not None and table.rates else None
        spent = await self.spent(tenant.id, currency) if currency is not None else None
        return OutboundPolicyOut(
            allowed_countries=policy.allowed_countries,
            effective_countries=effective_countries(policy, home),
            home_country=home,
            monthly_spend_cap=policy.monthly_spend_cap,
            spent_this_month=spent,
            currency=currency,
            max_call_duration_s=policy.max_call_duration_s,
            max_concurrent_calls=policy.max_concurrent_calls,
            calls_per_minute=policy.calls_per_minute,
            always_blocked=ALWAYS_BLOCKED,
            updated_at=policy.updated_at,
            updated_by=policy.updated_by,
        )
