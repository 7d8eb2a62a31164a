"""Inbound routing: number normalisation and the reject / announce / start decision."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.configdb_keys import menu_key, number_index_key, number_key, tenant_key, user_key
from sip_edge.directory import TenantDirectory
from sip_edge.routing import Announce, Reject, Start, normalize_number, route_inbound

from .edge_docs import menu_doc, number_doc, tenant_doc, uid, user_doc

NUM = "+15551230001"
MON_NOON = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)
MON_NIGHT = dt.datetime(2025, 3, 3, 23, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+15551230001", NUM),
        ("15551230001", NUM),
        ("sip:+15551230001@10.0.0.1:5060;user=phone", NUM),
        ("<sip:15551230001@edge>", NUM),
        ("tel:+1-555-123-0001", NUM),
        ("%2B15551230001", NUM),
        ("+1 (555) 123-0001", NUM),
        ("0015551230001", NUM),
        ("SIP:15551230001;npdi", NUM),
        ("edge", None),
        ("", None),
        (None, None),
        ("+0123", None),
        ("1", None),
        ("+1234567890123456", None),  # 16 digits
        ("1555abc", None),
        ("١٢٣٤٥", None),  # non-ASCII digits
    ],
)
def test_normalize(raw: str | None, expected: str | None) -> None:
    assert normalize_number(raw) == expected


@pytest.fixture
def world() -> tuple[TenantDirectory, dict[str, str]]:
    t, u, m, closed = uid(), uid(), uid(), uid()
    d = TenantDirectory()
    d.apply(
        tenant_key(t),
        tenant_doc(
            t,
            business_hours={"mon": ["09:00-17:00"]},
            open_entry={"type": "menu", "id": m},
            closed_entry={"type": "menu", "id": closed},
        ),
    )
    d.apply(user_key(t, u), user_doc(t, u))
    d.apply(menu_key(t, m), menu_doc(t, m))
    d.apply(menu_key(t, closed), menu_doc(t, closed, name="Closed"))
    d.apply(number_key(t, NUM), number_doc(t, NUM))
    d.apply(number_index_key(NUM), t)
    return d, {"t": t, "u": u, "m": m, "closed": closed}


def test_unknown_number_is_404(world: tuple[TenantDirectory, dict[str, str]]) -> None:
    d, _ = world
    r = route_inbound(d, "+15559999999", "+15559999999", MON_NOON)
    assert isinstance(r, Reject) and r.status == 404 and r.number == "+15559999999"
    r = route_inbound(d, "edge", None, MON_NOON)
    assert isinstance(r, Reject) and r.status == 404 and r.number is None


def test_request_uri_then_to(world: tuple[TenantDirectory, dict[str, str]]) -> None:
    d, ids = world
    r = route_inbound(d, "edge", "sip:15551230001@x", MON_NOON)
    assert isinstance(r, Start) and r.tenant.id == ids["t"]
    r = route_inbound(d, "+15550000000", NUM, MON_NOON)  # a trunk id in the R-URI: To wins
    assert isinstance(r, Start)


def test_business_hours_pick_the_entry(world: tuple[TenantDirectory, dict[str, str]]) -> None:
    d, ids = world
    r = route_inbound(d, NUM, None, MON_NOON)
    assert isinstance(r, Start) and r.entry.id == ids["m"]
    r = route_inbound(d, NUM, None, MON_NIGHT)
    assert isinstance(r, Start) and r.entry.id == ids["closed"]


def test_number_entry_overrides_hours(world: tuple[TenantDirectory, dict[str, str]]) -> None:
    d, ids = world
    d.apply(number_key(ids["t"], NUM), number_doc(ids["t"], NUM, {"type": "user", "id": ids["u"]}))
    r = route_inbound(d, NUM, None, MON_NIGHT)
    assert isinstance(r, Start) and r.entry.type == "user" and r.entry.id == ids["u"]


@pytest.mark.parametrize("status", ["suspended", "cancelled"])
def test_suspended_tenant_gets_an_announcement(
    world: tuple[TenantDirectory, dict[str, str]], status: str
) -> None:
    d, ids = world
    d.apply(tenant_key(ids["t"]), tenant_doc(ids["t"], status=status))
    r = route_inbound(d, NUM, None, MON_NOON)
    assert isinstance(r, Announce) and r.reason == "tenant_suspended"


def test_trial(world: tuple[TenantDirectory, dict[str, str]]) -> None:
    d, ids = world
    entry = {"type": "menu", "id": ids["m"]}
    d.apply(
        tenant_key(ids["t"]),
        tenant_doc(ids["t"], status="trial", trial_ends_at="2025-03-03T11:59:00Z", open_entry=entry),
    )
    r = route_inbound(d, NUM, None, MON_NOON)
    assert isinstance(r, Announce) and r.reason == "trial_expired"
    d.apply(
        tenant_key(ids["t"]),
        tenant_doc(ids["t"], status="trial", trial_ends_at="2025-03-03T12:01:00Z", open_entry=entry),
    )
    assert isinstance(route_inbound(d, NUM, None, MON_NOON), Start)


def test_no_entry(world: tuple[TenantDirectory, dict[str, str]]) -> None:
    d, ids = world
    d.apply(tenant_key(ids["t"]), tenant_doc(ids["t"]))  # no entries at all
    r = route_inbound(d, NUM, None, MON_NOON)
    assert isinstance(r, Announce) and r.reason == "no_entry"
    d.apply(number_key(ids["t"], NUM), number_doc(ids["t"], NUM, {"type": "menu", "id": uid()}))
    r = route_inbound(d, NUM, None, MON_NOON)  # the entry names a menu that is gone
    assert isinstance(r, Announce) and r.reason == "no_entry"
    d.apply(number_key(ids["t"], NUM), number_doc(ids["t"], NUM, {"type": "user", "id": uid()}))
    assert isinstance(route_inbound(d, NUM, None, MON_NOON), Announce)
