"""TenantDirectory: ConfigDB key/values in, lookups out; bad documents never crash it."""

from __future__ import annotations

import json
import logging
import time

import pytest

from shared.configdb_keys import (
    device_key,
    extension_index_key,
    menu_key,
    number_index_key,
    number_key,
    tenant_key,
    user_key,
)
from shared.logs import JsonFormatter
from sip_edge.directory import TenantDirectory

from .edge_docs import device_doc, menu_doc, number_doc, tenant_doc, uid, user_doc

E164 = "+15551230001"


@pytest.fixture
def ids() -> dict[str, str]:
    return {"t": uid(), "u": uid(), "m": uid(), "d": uid()}


def _loaded(ids: dict[str, str]) -> TenantDirectory:
    t, u, m = ids["t"], ids["u"], ids["m"]
    d = TenantDirectory()
    d.apply(tenant_key(t), json.dumps(tenant_doc(t)).encode(), 10)  # bytes
    d.apply(user_key(t, u), json.dumps(user_doc(t, u, extension="101")), 11)  # str
    d.apply(menu_key(t, m), menu_doc(t, m), 12)  # already decoded, as the client delivers
    d.apply(number_key(t, E164), number_doc(t, E164, {"type": "menu", "id": m}), 13)
    d.apply(number_index_key(E164), t, 13)  # decoded JSON string
    return d


def test_lookups_after_applying_each_kind(ids: dict[str, str]) -> None:
    d = _loaded(ids)
    t, u, m = ids["t"], ids["u"], ids["m"]
    found = d.number(E164)
    assert found is not None
    tenant, number = found
    assert tenant.id == t and number.entry is not None and number.entry.id == m
    assert d.user(t, u) is not None and d.user(t, u).name == "Ann"  # type: ignore[union-attr]
    assert d.menu(t, m) is not None
    assert d.user_by_extension(t, "101").id == u  # type: ignore[union-attr]
    assert d.user_by_extension(t, "102") is None
    assert d.number("+15559999999") is None
    assert d.revision == 13
    assert d.counts()["user"] == 1


def test_number_index_as_json_text_and_bytes(ids: dict[str, str]) -> None:
    d = _loaded(ids)
    d.apply(number_index_key(E164), json.dumps(ids["t"]))
    assert d.number(E164) is not None
    d.apply(number_index_key(E164), json.dumps(ids["t"]).encode())
    assert d.number(E164) is not None


def test_number_needs_the_index_owner_to_hold_the_document(ids: dict[str, str]) -> None:
    d = _loaded(ids)
    other = uid()
    d.apply(number_index_key(E164), other)  # the index says another tenant, which has no document
    assert d.number(E164) is None
    d.apply(number_index_key(E164), None)  # no index: the single holder of the document is used
    assert d.number(E164) is not None
    d.apply(tenant_key(other), tenant_doc(other))
    d.apply(number_key(other, E164), number_doc(other, E164))
    assert d.number(E164) is None  # two holders and no index: ambiguous
    d.apply(number_index_key(E164), other)
    assert d.number(E164)[0].id == other  # type: ignore[index]


def test_deletes(ids: dict[str, str]) -> None:
    d = _loaded(ids)
    t, u, m = ids["t"], ids["u"], ids["m"]
    d.apply(user_key(t, u), None)
    assert d.user(t, u) is None and d.user_by_extension(t, "101") is None
    d.apply(menu_key(t, m), None)
    assert d.menu(t, m) is None
    d.apply(number_key(t, E164), None)
    d.apply(number_index_key(E164), None)
    assert d.number(E164) is None
    d.apply(tenant_key(t), None)
    assert d.tenant(t) is None and d.tenant_ids() == []
    d.apply(user_key(t, "nobody"), None)  # deleting what is not there is fine


def test_extension_moves_with_the_user(ids: dict[str, str]) -> None:
    d = _loaded(ids)
    t, u = ids["t"], ids["u"]
    d.apply(user_key(t, u), user_doc(t, u, extension="202"))
    assert d.user_by_extension(t, "101") is None
    assert d.user_by_extension(t, "202").id == u  # type: ignore[union-attr]
    d.apply(user_key(t, u), user_doc(t, u, extension=None))
    assert d.user_by_extension(t, "202") is None


def test_devices(ids: dict[str, str]) -> None:
    d = _loaded(ids)
    t, u = ids["t"], ids["u"]
    d1, d2 = uid(), uid()
    d.apply(device_key(t, u, d1), device_doc(u, d1))
    d.apply(device_key(t, u, d2), device_doc(u, d2))
    assert {x.id for x in d.devices(t, u)} == {d1, d2}
    d.apply(device_key(t, u, d1), None)
    assert [x.id for x in d.devices(t, u)] == [d2]
    assert d.devices(t, "other") == []
    assert d.devices("nope", u) == []


def test_bad_documents_are_logged_dropped_and_forget_the_old_value(
    ids: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    d = _loaded(ids)
    t, m = ids["t"], ids["m"]
    caplog.set_level(logging.WARNING, "sip_edge.directory")
    assert d.apply(menu_key(t, m), {"id": m, "tenant_id": t, "name": "x"}) is False  # no greeting
    assert d.menu(t, m) is None
    assert d.apply(user_key(t, "x"), b"{not json") is False
    assert d.apply(tenant_key(t), b"\xff\xfe") is False
    assert d.apply(number_index_key(E164), {"tenant": 1}) is False
    assert d.apply(menu_key(t, uid()), menu_doc(t, uid())) is False  # id does not match its key
    assert d.apply(user_key(t, ids["u"]), 42) is False
    assert d.rejected == 6
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    assert all(line["event"] == "config_rejected" and line["key"] for line in lines)
    assert len(lines) == 6


def test_keys_it_does_not_keep_are_ignored(ids: dict[str, str]) -> None:
    d = _loaded(ids)
    t = ids["t"]
    before = d.changes
    assert d.apply(extension_index_key(t, "101"), ids["u"]) is False
    assert d.apply(f"t/{t}/prompt/{uid()}", {"anything": 1}) is False
    assert d.apply("idx/email/a@b.c", {"tenant_id": t, "user_id": ids["u"]}) is False
    assert d.apply("t/", None) is False
    assert d.apply("t/x", "garbage") is False
    assert d.changes == before


def test_load_replaces_a_prefix(ids: dict[str, str]) -> None:
    d = _loaded(ids)
    t2 = uid()
    d.load("t/", [(tenant_key(t2), tenant_doc(t2))], 50)
    assert d.tenant(ids["t"]) is None and d.tenant(t2) is not None
    assert d.number(E164) is None  # the index still names the old tenant, whose documents are gone
    d.load("idx/number/", [], 51)
    assert d.revision == 51
    d.clear(f"t/{t2}/")
    assert d.tenant(t2) is None
    with pytest.raises(ValueError):
        d.clear("idx/email/")


def test_tenant_view_is_a_stable_copy(ids: dict[str, str]) -> None:
    d = _loaded(ids)
    t, u, m = ids["t"], ids["u"], ids["m"]
    view = d.tenant_view(t)
    d.apply(menu_key(t, m), None)
    d.apply(user_key(t, u), None)
    assert view.menu(t, m) is not None and view.user(t, u) is not None
    assert view.user_by_extension(t, "101").id == u  # type: ignore[union-attr]
    assert view.menu("other", m) is None
    assert d.tenant_view("missing").tenant is None


def test_updates_are_cheap() -> None:
    d = TenantDirectory()
    t = uid()
    d.apply(tenant_key(t), tenant_doc(t))
    menus = [menu_doc(t, uid()) for _ in range(2000)]
    for doc in menus:  # a large tenant first, so a cost that grows with size would show
        d.apply(menu_key(t, doc["id"]), doc)
    start = time.perf_counter()
    for i in range(2000):
        doc = menus[i % 50]
        d.apply(menu_key(t, doc["id"]), {**doc, "name": f"v{i}"}, 100 + i)
    per_change = (time.perf_counter() - start) / 2000
    assert per_change < 0.001, f"{per_change * 1e6:.0f} us per change"
    assert d.revision == 2099
