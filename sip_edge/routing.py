"""Routing an inbound call: from the dialled number to a decision. Pure: no I/O, no clock.

`route_inbound(directory, request_uri_user, to_user, now)`:
- the number comes from the Request-URI user, falling back to the To user (the first candidate
  that is an assigned number wins; providers sometimes put a trunk id in the Request-URI);
- an unassigned number -> `Reject(404)`;
- a suspended or cancelled tenant -> `Announce("tenant_suspended")`, an ended trial ->
  `Announce("trial_expired")`, no entry point (or one pointing at a menu/user that is gone) ->
  `Announce("no_entry")`: the edge plays the announcement, then hangs up;
- otherwise `Start(tenant, number, entry)` with the entry from `resolve_entry` (the number's own
  entry, else the tenant's open/closed entry by business hours in its time zone).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal, Protocol
from urllib.parse import unquote

from shared.directory.models.ivr import IvrMenu
from shared.directory.models.number import Number
from shared.directory.models.tenant import Tenant, TenantStatus
from shared.directory.models.user import User
from shared.directory.services.business_hours import resolve_entry
from shared.values import E164_RE, EntryPoint

AnnounceReason = Literal["tenant_suspended", "trial_expired", "no_entry"]

_SEPARATORS = re.compile(r"[\s\-.()/]")


class RoutingDirectory(Protocol):
    def number(self, e164: str) -> tuple[Tenant, Number] | None: ...

    def user(self, tenant_id: str, user_id: str) -> User | None: ...

    def menu(self, tenant_id: str, menu_id: str) -> IvrMenu | None: ...


@dataclass(frozen=True, slots=True)
class Reject:
    """Refuse the INVITE with `status` (no announcement)."""

    status: int
    reason: str
    number: str | None = None


@dataclass(frozen=True, slots=True)
class Announce:
    """Answer, play the announcement named `reason`, then hang up."""

    reason: AnnounceReason
    tenant: Tenant
    number: Number


@dataclass(frozen=True, slots=True)
class Start:
    """Answer and run the call from `entry` (an IVR menu or a user)."""

    tenant: Tenant
    number: Number
    entry: EntryPoint


RouteDecision = Reject | Announce | Start


def normalize_number(raw: str | None) -> str | None:
    """A dialled number in E.164, or None when `raw` cannot be one.

    Accepts a bare user part or a URI (`sip:`, `sips:`, `tel:`, with or without `<>`, host and
    parameters): `+15551234567`, `15551234567`, `%2B15551234567`, `+1 (555) 123-4567`,
    `0015551234567` (international prefix). Anything else that is not digits is refused.
    """
    if raw is None:
        return None
    text = raw.strip().strip("<>").strip()
    lowered = text.lower()
    for scheme in ("sips:", "sip:", "tel:"):
        if lowered.startswith(scheme):
            text = text[len(scheme) :]
            break
    text = text.split("@", 1)[0].split(";", 1)[0].split("?", 1)[0]
    if "%" in text:
        text = unquote(text)
    text = _SEPARATORS.sub("", text)
    if not text:
        return None
    if text.startswith("+"):
        digits = text[1:]
    elif text.startswith("00"):
        digits = text[2:]
    else:
        digits = text
    if not digits.isascii() or not digits.isdigit():
        return None
    candidate = "+" + digits
    return candidate if E164_RE.fullmatch(candidate) else None


def route_inbound(
    directory: RoutingDirectory, request_uri_user: str | None, to_user: str | None, now: dt.datetime
) -> RouteDecision:
    """Decide what to do with an inbound INVITE (see the module docstring)."""
    candidates: list[str] = []
    for raw in (request_uri_user, to_user):
        e164 = normalize_number(raw)
        if e164 is not None and e164 not in candidates:
            candidates.append(e164)
    found: tuple[Tenant, Number] | None = None
    for e164 in candidates:
        found = directory.number(e164)
        if found is not None:
            break
    if found is None:
        if not candidates:
            return Reject(404, "no number in the Request-URI or To", None)
        return Reject(404, "number not assigned", candidates[0])
    tenant, number = found
    barred = tenant_barred(tenant, now)
    if barred is not None:
        return Announce(barred, tenant, number)
    entry = resolve_entry(number, tenant, now)
    if entry is None or not _entry_exists(directory, tenant.id, entry):
        return Announce("no_entry", tenant, number)
    return Start(tenant, number, entry)


def tenant_barred(tenant: Tenant, now: dt.datetime) -> Literal["tenant_suspended", "trial_expired"] | None:
    """Why a tenant takes and places no calls (suspended or cancelled; a trial past its end)."""
    if tenant.status in (TenantStatus.SUSPENDED, TenantStatus.CANCELLED):
        return "tenant_suspended"
    trial_over = tenant.trial_ends_at is not None and tenant.trial_ends_at < now
    if tenant.status is TenantStatus.TRIAL and trial_over:
        return "trial_expired"
    return None


def _entry_exists(directory: RoutingDirectory, tenant_id: str, entry: EntryPoint) -> bool:
    if entry.type == "menu":
        return directory.menu(tenant_id, entry.id) is not None
    return directory.user(tenant_id, entry.id) is not None


__all__ = [
    "Announce",
    "AnnounceReason",
    "Reject",
    "RouteDecision",
    "RoutingDirectory",
    "Start",
    "normalize_number",
    "route_inbound",
]
