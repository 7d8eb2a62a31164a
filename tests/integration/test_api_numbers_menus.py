"""Numbers and IVR menus over HTTP against a real 3-node ConfigDB shard.

Reuses the harness of `test_api_accounts` (create_app served through httpx's ASGI transport,
sign-up + login, read-back from node 3). Covers: a two-level menu; 422 with a JSON pointer for a
duplicate digit, a missing target, an endless loop and a missing entry point; deleting a menu that a
number or menu still points to (422 naming them); If-Match (412); the global number claim (409
across tenants, released on delete into quarantine); tenant isolation (404); and a menu change seen
from a watch on another node and read back from a different node.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from typing import Any

import httpx
import pytest

from infra.local.configdb_cluster import LocalCluster
from shared.adapters.config_repo import ConfigRepo
from shared.configdb import AsyncConfigDBClient, ConfigDBClient
from shared.configdb.models import WatchEvent
from shared.configdb_keys import inventory_key, menu_key, number_index_key, number_key
from shared.directory.services.menus import InUse, ensure_user_unreferenced, references_to_user
from shared.values import new_ulid
from tests.inventory import stock

from .test_api_accounts import API, PROBLEM, RecordingBus, bearer, read_back, run, signup_and_login

NUM = "+15550001001"


def greeting(text: str) -> dict[str, str]:
    return {"text": text}


def go(menu_id: str) -> dict[str, str]:
    return {"type": "go_menu", "menu_id": menu_id}


def transfer(user_id: str) -> dict[str, str]:
    return {"type": "transfer_user", "user_id": user_id}


def pointers(r: httpx.Response) -> list[tuple[str, str]]:
    assert r.headers["content-type"] == PROBLEM, r.text
    return [(e["pointer"], e["code"]) for e in r.json()["errors"]]


def first_event(cluster: LocalCluster, node: int, prefix: str, from_revision: int) -> WatchEvent | None:
    """The first change under `prefix` at or after `from_revision`, watched on one node only."""
    with ConfigDBClient([cluster.nodes[node].http], cluster.token) as db:
        watch = db.watch(prefix, from_revision=from_revision)
        timer = threading.Timer(10.0, watch.close)
        timer.start()
        try:
            for item in watch:
                if isinstance(item, WatchEvent):
                    return item
        finally:
            timer.cancel()
            watch.close()
    return None


def test_menus_numbers_validation_and_isolation(cluster: LocalCluster) -> None:
    seen: dict[str, Any] = {}
    stock(cluster.endpoints, cluster.token, [NUM, "+15550001002", "+15550001003", "+15550002001"])

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        a = await signup_and_login(client, bus, "owner@menus-a.test", "Menus A")
        b = await signup_and_login(client, bus, "owner@menus-b.test", "Menus B")
        ha, hb = bearer(a["access_token"]), bearer(b["access_token"])
        owner = a["user"]["id"]
        seen.update(tenant_a=a["tenant"]["id"], tenant_b=b["tenant"]["id"], owner=owner)

        # ---------------------------------------------------------------- a two-level menu
        r = await client.post(
            f"{API}/ivr-menus",
            json={"name": "Sales", "greeting": greeting("Sales"), "options": [{"digit": "1"}]},
            headers=ha,
        )
        assert r.status_code == 422  # an option without an action: the body itself is invalid
        sales_body = {
            "name": "Sales",
            "greeting": greeting("Sales, press 1 for Olive"),
            "options": [{"digit": "1", "action": transfer(owner)}],
        }
        r = await client.post(f"{API}/ivr-menus", json=sales_body, headers=ha)
        assert r.status_code == 201, r.text
        sales = r.json()["id"]
        assert r.headers["location"] == f"/api/v1/ivr-menus/{sales}" and r.headers["etag"]
        main_body = {
            "name": "Main",
            "greeting": greeting("Welcome"),
            "options": [
                {"digit": "2", "action": {"type": "voicemail", "user_id": owner}},
                {"digit": "1", "action": go(sales)},
            ],
            "timeout_s": 5,
            "on_timeout": go(sales),
        }
        r = await client.post(f"{API}/ivr-menus", json=main_body, headers=ha)
        assert r.status_code == 201, r.text
        main = r.json()["id"]
        r = await client.get(f"{API}/ivr-menus/{main}", headers=ha)
        assert r.status_code == 200 and r.headers["etag"]
        got = r.json()
        assert [o["digit"] for o in got["options"]] == ["1", "2"]  # keypad order
        assert got["options"][0]["action"] == go(sales) and got["on_invalid"] == {"type": "hang_up"}
        r = await client.get(f"{API}/ivr-menus", headers=ha)
        assert [m["name"] for m in r.json()["items"]] == ["Main", "Sales"]

        # ---------------------------------------------------------------- 422 with pointers
        dup = {
            **sales_body,
            "name": "Dup",
            "options": [{"digit": "1", "action": transfer(owner)}, {"digit": "1", "action": go(sales)}],
        }
        r = await client.post(f"{API}/ivr-menus", json=dup, headers=ha)
        assert r.status_code == 422 and ("/options/1/digit", "duplicate_digit") in pointers(r)

        ghost_menu, ghost_user = new_ulid(dt.datetime.now(dt.UTC)), new_ulid(dt.datetime.now(dt.UTC))
        missing = {
            **sales_body,
            "name": "Missing",
            "options": [{"digit": "1", "action": go(ghost_menu)}],
            "on_invalid": transfer(ghost_user),
        }
        r = await client.post(f"{API}/ivr-menus", json=missing, headers=ha)
        assert r.status_code == 422
        assert set(pointers(r)) == {
            ("/options/0/action/menu_id", "menu_not_found"),
            ("/on_invalid/user_id", "user_not_found"),
        }
        r = await client.patch(f"{API}/ivr-menus/{main}", json={"on_timeout": go(ghost_menu)}, headers=ha)
        assert r.status_code == 422 and pointers(r) == [("/on_timeout/menu_id", "menu_not_found")]

        # a loop: Lonely only leads to Sales; Sales then only leads back to Lonely
        lonely_body = {
            "name": "Lonely",
            "greeting": greeting("Press 1"),
            "options": [{"digit": "1", "action": go(sales)}],
            "on_invalid": {"type": "repeat"},
        }
        r = await client.post(f"{API}/ivr-menus", json=lonely_body, headers=ha)
        assert r.status_code == 201, r.text
        lonely = r.json()["id"]
        loop = {"options": [{"digit": "1", "action": go(lonely)}], "on_invalid": {"type": "repeat"}}
        r = await client.patch(f"{API}/ivr-menus/{sales}", json=loop, headers=ha)
        assert r.status_code == 422
        assert ("/options/0/action/menu_id", "menu_loop") in pointers(r)
        assert "Lonely" in r.json()["detail"]
        r = await client.get(f"{API}/ivr-menus/{sales}", headers=ha)
        assert r.json()["options"][0]["action"] == transfer(owner)  # unchanged

        # ---------------------------------------------------------------- numbers
        r = await client.post(
            f"{API}/numbers", json={"number": NUM, "entry": {"type": "menu", "id": ghost_menu}}, headers=ha
        )
        assert r.status_code == 422 and pointers(r) == [("/entry/id", "menu_not_found")]
        r = await client.post(
            f"{API}/numbers", json={"number": NUM, "entry": {"type": "user", "id": ghost_user}}, headers=ha
        )
        assert r.status_code == 422 and pointers(r) == [("/entry/id", "user_not_found")]
        r = await client.post(f"{API}/numbers", json={"number": "5551234", "entry": None}, headers=ha)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/number"

        r = await client.post(
            f"{API}/numbers", json={"number": NUM, "entry": {"type": "menu", "id": main}}, headers=ha
        )
        assert r.status_code == 201, r.text
        assert r.json()["tenant_id"] == a["tenant"]["id"] and r.json()["entry"]["id"] == main
        r = await client.post(
            f"{API}/numbers",
            json={"number": "+15550001002", "entry": {"type": "user", "id": owner}},
            headers=ha,
        )
        assert r.status_code == 201, r.text
        r = await client.get(f"{API}/numbers/{NUM}", headers=ha)
        assert r.status_code == 200 and r.json()["entry"] == {"type": "menu", "id": main}
        r = await client.get(f"{API}/numbers", headers=ha)
        assert sorted(n["number"] for n in r.json()["items"]) == [NUM, "+15550001002"]

        # one tenant at a time: 409 for the other tenant and for a second claim by the owner
        for headers in (hb, ha):
            r = await client.post(f"{API}/numbers", json={"number": NUM}, headers=headers)
            assert r.status_code == 409 and pointers(r) == [("/number", "taken")]
            assert a["tenant"]["id"] not in r.text  # who holds it is not leaked

        # ---------------------------------------------------------------- isolation: 404
        for method, path in [
            ("GET", f"/numbers/{NUM}"),
            ("PATCH", f"/numbers/{NUM}"),
            ("DELETE", f"/numbers/{NUM}"),
            ("DELETE", f"/numbers?number=%2B{NUM[1:]}"),
            ("GET", f"/ivr-menus/{main}"),
            ("PATCH", f"/ivr-menus/{main}"),
            ("DELETE", f"/ivr-menus/{main}"),
            ("GET", "/ivr-menus/not-an-id"),
            ("GET", "/numbers/not-a-number"),
        ]:
            body = {"name": "Stolen"} if "ivr-menus" in path else {"label": "stolen"}
            kwargs: dict[str, Any] = {"json": body} if method == "PATCH" else {}
            r = await client.request(method, f"{API}{path}", headers=hb, **kwargs)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
            assert r.headers["content-type"] == PROBLEM
        assert (await client.get(f"{API}/numbers", headers=hb)).json()["items"] == []
        assert (await client.get(f"{API}/ivr-menus", headers=hb)).json()["items"] == []
        # B cannot point at A's menu or user either
        r = await client.post(
            f"{API}/numbers",
            json={"number": "+15550002001", "entry": {"type": "menu", "id": main}},
            headers=hb,
        )
        assert r.status_code == 422 and pointers(r) == [("/entry/id", "menu_not_found")]
        r = await client.post(f"{API}/ivr-menus", json={**sales_body, "name": "B"}, headers=hb)
        assert r.status_code == 422 and pointers(r) == [("/options/0/action/user_id", "user_not_found")]

        # ---------------------------------------------------------------- members read, managers change
        member = {"name": "Mo Member", "email": "mo@menus-a.test", "password": "member password"}
        r = await client.post(f"{API}/users", json=member, headers=ha)
        assert r.status_code == 201, r.text
        r = await client.post(
            f"{API}/auth/login", json={"email": member["email"], "password": member["password"]}
        )
        assert r.status_code == 200, r.text
        hm = bearer(r.json()["access_token"])
        assert (await client.get(f"{API}/ivr-menus/{main}", headers=hm)).status_code == 200
        assert (await client.get(f"{API}/numbers/{NUM}", headers=hm)).status_code == 200
        for method, path, json_body in [
            ("POST", "/ivr-menus", sales_body),
            ("PATCH", f"/ivr-menus/{main}", {"name": "Mine"}),
            ("DELETE", f"/ivr-menus/{lonely}", None),
            ("POST", "/numbers", {"number": "+15550001003"}),
            ("DELETE", f"/numbers/{NUM}", None),
        ]:
            r = await client.request(method, f"{API}{path}", json=json_body, headers=hm)
            assert r.status_code == 403, (method, path, r.text)

        # ---------------------------------------------------------------- still in use: 422, saying who
        r = await client.delete(f"{API}/ivr-menus/{main}", headers=ha)
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
        refs = r.json()["references"]
        assert [(x["kind"], x["id"], x["pointer"]) for x in refs] == [("number", NUM, "/entry")]
        assert NUM in r.json()["detail"] and r.json()["errors"][0]["code"] == "menu_in_use"

        r = await client.delete(f"{API}/ivr-menus/{sales}", headers=ha)
        assert r.status_code == 422
        where = {(x["kind"], x["id"], x["pointer"]) for x in r.json()["references"]}
        assert where == {
            ("menu", main, "/options/0/action/menu_id"),
            ("menu", main, "/on_timeout/menu_id"),
            ("menu", lonely, "/options/0/action/menu_id"),
        }
        assert any("'Main'" in e["message"] for e in r.json()["errors"])
        assert "'Main' option 1" in r.json()["detail"] and "'Lonely' option 1" in r.json()["detail"]

        # the users route's helper: who points at the owner
        async with AsyncConfigDBClient(cluster.endpoints, cluster.token) as db:
            user_refs = await references_to_user(ConfigRepo(db), a["tenant"]["id"], owner)
            with pytest.raises(InUse) as in_use:
                await ensure_user_unreferenced(ConfigRepo(db), a["tenant"]["id"], owner)
            assert in_use.value.status == 422 and "+15550001002" in in_use.value.message
            assert all(ref.pointer != "/owner_user_id" for ref in in_use.value.references)
        assert {(x.kind, x.pointer) for x in user_refs} >= {
            ("number", "/entry"),
            ("menu", "/options/0/action/user_id"),
            ("menu", "/options/1/action/user_id"),
        }

        # ---------------------------------------------------------------- If-Match
        r = await client.get(f"{API}/ivr-menus/{main}", headers=ha)
        etag = r.headers["etag"]
        r = await client.patch(
            f"{API}/ivr-menus/{main}", json={"name": "Main line"}, headers={**ha, "If-Match": etag}
        )
        assert r.status_code == 200 and r.json()["name"] == "Main line" and r.json()["updated_at"]
        assert r.headers["etag"] != etag
        r = await client.patch(
            f"{API}/ivr-menus/{main}", json={"name": "Stale"}, headers={**ha, "If-Match": etag}
        )
        assert r.status_code == 412 and r.headers["content-type"] == PROBLEM
        r = await client.delete(f"{API}/numbers/{NUM}", headers={**ha, "If-Match": '"1"'})
        assert r.status_code == 412

        # number entry changes with PATCH; delete releases the global claim
        r = await client.patch(
            f"{API}/numbers/{NUM}", json={"entry": {"type": "menu", "id": ghost_menu}}, headers=ha
        )
        assert r.status_code == 422 and pointers(r) == [("/entry/id", "menu_not_found")]
        r = await client.patch(
            f"{API}/numbers/{NUM}", json={"entry": {"type": "menu", "id": lonely}}, headers=ha
        )
        assert r.status_code == 200 and r.json()["entry"]["id"] == lonely
        r = await client.delete(f"{API}/numbers/{NUM}", headers={**ha, "If-Match": r.headers["etag"]})
        assert r.status_code == 204
        assert (await client.get(f"{API}/numbers/{NUM}", headers=ha)).status_code == 404
        # released: in quarantine, so B cannot take it yet; B takes another one
        r = await client.post(
            f"{API}/numbers",
            json={"number": NUM, "entry": {"type": "user", "id": b["user"]["id"]}},
            headers=hb,
        )
        assert r.status_code == 409 and r.json()["type"].endswith("/number-quarantined"), r.text
        r = await client.post(
            f"{API}/numbers",
            json={"number": "+15550002001", "entry": {"type": "user", "id": b["user"]["id"]}},
            headers=hb,
        )
        assert r.status_code == 201, r.text

        # Main is free now (Lonely and Sales do not point at it): delete it, then Sales is free of Main
        assert (await client.delete(f"{API}/ivr-menus/{main}", headers=ha)).status_code == 204
        assert (await client.get(f"{API}/ivr-menus/{main}", headers=ha)).status_code == 404
        r = await client.delete(f"{API}/ivr-menus/{sales}", headers=ha)
        assert r.status_code == 422 and [x["id"] for x in r.json()["references"]] == [lonely]

    run(cluster, scenario)

    # replicated: node 3 alone shows the release (quarantined) and B's claim
    assert read_back(cluster, inventory_key(NUM))["state"] == "quarantined"
    assert read_back(cluster, number_index_key("+15550002001")) == seen["tenant_b"]
    assert read_back(cluster, number_key(seen["tenant_b"], "+15550002001"))["tenant_id"] == seen["tenant_b"]


def test_menu_change_reaches_a_watch_and_another_node(cluster: LocalCluster) -> None:
    seen: dict[str, Any] = {}

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        a = await signup_and_login(client, bus, "owner@watch.test", "Watched")
        ha, owner = bearer(a["access_token"]), a["user"]["id"]
        body = {
            "name": "Front desk",
            "greeting": greeting("Hello"),
            "options": [{"digit": "0", "action": transfer(owner)}],
        }
        r = await client.post(f"{API}/ivr-menus", json=body, headers=ha)
        assert r.status_code == 201, r.text
        menu, created = r.json()["id"], int(r.headers["etag"].strip('"'))
        key = menu_key(a["tenant"]["id"], menu)

        # a watcher on node 2, started before the change, from just after the create
        loop = asyncio.get_running_loop()
        watched = loop.run_in_executor(None, first_event, cluster, 1, key, created + 1)
        patch = {"options": [{"digit": "9", "action": {"type": "dial_by_extension"}}]}
        r = await client.patch(
            f"{API}/ivr-menus/{menu}", json=patch, headers={**ha, "If-Match": f'"{created}"'}
        )
        assert r.status_code == 200, r.text
        revision = int(r.headers["etag"].strip('"'))
        event = await watched
        assert event is not None and event.type == "put" and event.key == key
        assert event.revision == revision
        assert event.value["options"] == {"9": {"type": "dial_by_extension"}}
        seen.update(key=key)

    run(cluster, scenario)

    # node 3 alone, once it has applied the change
    deadline = time.monotonic() + 10
    while True:
        stored = read_back(cluster, seen["key"])
        if stored is not None and set(stored["options"]) == {"9"}:
            break
        assert time.monotonic() < deadline, stored
        time.sleep(0.05)
