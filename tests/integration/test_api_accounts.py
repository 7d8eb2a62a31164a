"""Sign-up, auth, tenant, users and devices over HTTP against a real 3-node ConfigDB shard.

The app is `create_app(settings)` served through httpx's ASGI transport. The message bus is a
recording implementation of the `MessageBus` port (the Azurite + functions host path is covered
separately); everything else is real: ConfigDB over HTTP, argon2, JWTs.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.queue import QueueClient

from functions.devhost.messages import decode_body
from functions.http_api.app import create_app
from infra.local.configdb_cluster import LocalCluster, free_port
from shared.adapters.storage_queue_bus import StorageQueueBus
from shared.configdb import ConfigDBClient
from shared.configdb_keys import email_index_key, extension_index_key, tenant_key, user_key
from shared.errors import Unavailable
from shared.message_contract import SCHEMA_VERSION
from shared.security.rate_limit import AuthLimits, Limit
from shared.settings import Settings, azurite_connection_string

API = "/api/v1"
PROBLEM = "application/problem+json"


class IsolatedSettings(Settings):
    local_settings_file = None


class RecordingBus:
    """The MessageBus port, recording what would be queued."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []

    async def send(self, queue: str, body: dict[str, Any], message_id: str) -> None:
        self.sent.append((queue, body, message_id))

    def last(self, kind: str, to: str) -> dict[str, Any]:
        for queue, body, _ in reversed(self.sent):
            if queue == "email" and body["kind"] == kind and body["to"] == to:
                return body
        raise AssertionError(f"no {kind} email to {to}")


def settings_for(cluster: LocalCluster) -> Settings:
    return IsolatedSettings(
        configdb_endpoints=cluster.endpoints,
        configdb_token=cluster.token,
        region="local",
        region_base_urls={"local": "http://127.0.0.1:7071/api", "eu": "https://eu.pbx.example/api"},
        public_base_url="https://app.pbx.example",
    )


def token_in(message: dict[str, Any]) -> str:
    m = re.search(r"token=([A-Za-z0-9_\-]+)", message["text"])
    assert m, message["text"]
    return m.group(1)


class SteppedClock:
    """The Clock port, moved forward by the test (token expiry without waiting)."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


def run(
    cluster: LocalCluster,
    scenario: Callable[[httpx.AsyncClient, RecordingBus], Awaitable[None]],
    *,
    limits: AuthLimits | None = None,
    clock: SteppedClock | None = None,
) -> None:
    cluster.wait_healthy()
    bus = RecordingBus()
    app = create_app(settings_for(cluster), bus=bus, limits=limits, clock=clock)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            await scenario(client, bus)
        await app.state.ctx.aclose()

    asyncio.run(main())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def signup_and_login(
    client: httpx.AsyncClient, bus: RecordingBus, email: str, company: str = "Acme"
) -> dict[str, Any]:
    r = await client.post(
        f"{API}/signup",
        json={"company": company, "name": "Olive Owner", "email": email, "password": "correct horse 1"},
    )
    assert r.status_code == 201, r.text
    r2 = await client.post(f"{API}/signup/verify", json={"token": token_in(bus.last("verify", email))})
    assert r2.status_code == 200, r2.text
    login = await client.post(f"{API}/auth/login", json={"email": email, "password": "correct horse 1"})
    assert login.status_code == 200, login.text
    return {**r.json(), **login.json()}


def read_back(cluster: LocalCluster, key: str, timeout: float = 10.0) -> Any:
    """The value of `key` read from node 3 only: proof it was replicated."""
    with ConfigDBClient([cluster.nodes[2].http], cluster.token) as db:
        deadline = time.monotonic() + timeout
        while True:
            kv = db.get_or_none(key)
            if kv is not None or time.monotonic() > deadline:
                return None if kv is None else kv.value
            time.sleep(0.05)


def test_signup_verify_login_refresh_logout_reset(cluster: LocalCluster) -> None:
    seen: dict[str, Any] = {}
    clock = SteppedClock()

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        body = {"company": "Acme", "name": "Olive", "email": "Olive@Acme.test", "password": "correct horse 1"}
        r = await client.post(f"{API}/signup", json={**body, "region": "local"})
        assert r.status_code == 201, r.text
        out = r.json()
        assert out["tenant"]["status"] == "trial" and out["user"]["role"] == "owner"
        assert out["user"]["email"] == "olive@acme.test"
        assert "password_hash" not in out["user"]
        seen.update(tenant_id=out["tenant"]["id"], user_id=out["user"]["id"])

        # one email, once: 409 naming the field
        again = await client.post(f"{API}/signup", json=body)
        assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
        assert again.json()["field"] == "email"

        # another region: 307 to its base URL; an unknown one: 422 at /region
        eu = await client.post(f"{API}/signup", json={**body, "email": "x@eu.test", "region": "eu"})
        assert eu.status_code == 307 and eu.headers["location"] == "https://eu.pbx.example/api/v1/signup"
        mars = await client.post(f"{API}/signup", json={**body, "email": "x@mars.test", "region": "mars"})
        assert mars.status_code == 422 and mars.json()["errors"][0]["pointer"] == "/region"

        # the verification email, queued on `email`
        queue, message, message_id = bus.sent[0]
        assert queue == "email" and message["kind"] == "verify" and message["to"] == "olive@acme.test"
        assert "https://app.pbx.example/verify?token=" in message["text"] and message_id
        verify_token = token_in(message)

        # unverified: 403 with a clear detail
        login_body = {"email": "olive@acme.test", "password": "correct horse 1"}
        r = await client.post(f"{API}/auth/login", json=login_body)
        assert r.status_code == 403 and "not verified" in r.json()["detail"]

        assert (await client.post(f"{API}/signup/verify", json={"token": "nope"})).status_code == 400
        r = await client.post(f"{API}/signup/verify", json={"token": verify_token})
        assert r.status_code == 200 and r.json()["user_id"] == seen["user_id"]
        assert (await client.post(f"{API}/signup/verify", json={"token": verify_token})).status_code == 400

        # login
        wrong = await client.post(f"{API}/auth/login", json={**login_body, "password": "wrong password"})
        assert wrong.status_code == 401 and wrong.headers["content-type"] == PROBLEM
        r = await client.post(f"{API}/auth/login", json=login_body)
        assert r.status_code == 200, r.text
        pair = r.json()
        assert pair["token_type"] == "bearer" and pair["expires_in"] == 900
        me = await client.get(f"{API}/users/{seen['user_id']}", headers=bearer(pair["access_token"]))
        assert me.status_code == 200 and me.json()["email"] == "olive@acme.test"

        # refresh rotates; past the grace the old token is dead, and reusing it revokes the family
        r = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 200, r.text
        rotated = r.json()
        assert rotated["refresh_token"] != pair["refresh_token"]
        clock.offset += dt.timedelta(seconds=21)
        reuse = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert reuse.status_code == 401 and "already used" in reuse.json()["detail"]
        family_dead = await client.post(
            f"{API}/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
        )
        assert family_dead.status_code == 401

        # logout revokes
        fresh = (await client.post(f"{API}/auth/login", json=login_body)).json()
        r = await client.post(f"{API}/auth/logout", json={"refresh_token": fresh["refresh_token"]})
        assert r.status_code == 204
        r = await client.post(f"{API}/auth/refresh", json={"refresh_token": fresh["refresh_token"]})
        assert r.status_code == 401

        # password reset: always 202; a link only for a real account
        before = len(bus.sent)
        assert (
            await client.post(f"{API}/auth/password-reset", json={"email": "ghost@x.test"})
        ).status_code == 202
        assert len(bus.sent) == before
        r = await client.post(f"{API}/auth/password-reset", json={"email": "olive@acme.test"})
        assert r.status_code == 202
        reset_token = token_in(bus.last("password-reset", "olive@acme.test"))
        r = await client.post(
            f"{API}/auth/password-reset/confirm", json={"token": reset_token, "password": "new password 2"}
        )
        assert r.status_code == 204
        old = await client.post(f"{API}/auth/login", json=login_body)
        assert old.status_code == 401
        new = await client.post(f"{API}/auth/login", json={**login_body, "password": "new password 2"})
        assert new.status_code == 200
        r = await client.post(
            f"{API}/auth/password-reset/confirm", json={"token": reset_token, "password": "third password"}
        )
        assert r.status_code == 400

    run(cluster, scenario, clock=clock)

    # replicated: node 3 alone holds the tenant, the owner and the email index
    tid, uid = seen["tenant_id"], seen["user_id"]
    tenant = read_back(cluster, tenant_key(tid))
    assert tenant is not None and tenant["status"] == "trial" and tenant["owner_user_id"] == uid
    assert read_back(cluster, user_key(tid, uid))["role"] == "owner"
    assert read_back(cluster, email_index_key("olive@acme.test")) == {"tenant_id": tid, "user_id": uid}


def test_expiry_of_links_and_tokens(cluster: LocalCluster) -> None:
    clock = SteppedClock()

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        body = {"company": "Late", "name": "Lou", "email": "lou@late.test", "password": "correct horse 1"}
        assert (await client.post(f"{API}/signup", json=body)).status_code == 201
        verify_token = token_in(bus.last("verify", "lou@late.test"))
        clock.offset = dt.timedelta(hours=49)  # the verification link lives 48 h
        r = await client.post(f"{API}/signup/verify", json={"token": verify_token})
        assert r.status_code == 400 and r.json()["errors"][0]["pointer"] == "/token"
        # a password reset proves the mailbox too, so it also verifies the address
        assert (
            await client.post(f"{API}/auth/password-reset", json={"email": "lou@late.test"})
        ).status_code == 202
        reset = token_in(bus.last("password-reset", "lou@late.test"))
        r = await client.post(
            f"{API}/auth/password-reset/confirm", json={"token": reset, "password": "brand new 9"}
        )
        assert r.status_code == 204
        r = await client.post(f"{API}/auth/login", json={"email": "lou@late.test", "password": "brand new 9"})
        assert r.status_code == 200, r.text
        pair = r.json()
        assert (await client.get(f"{API}/tenant", headers=bearer(pair["access_token"]))).status_code == 200
        clock.offset += dt.timedelta(minutes=16)  # access tokens live 15 min
        r = await client.get(f"{API}/tenant", headers=bearer(pair["access_token"]))
        assert r.status_code == 401 and "expired" in r.json()["detail"]
        r = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 200
        pair = r.json()
        clock.offset += dt.timedelta(days=31)  # refresh tokens live 30 days
        r = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert r.status_code == 401 and "expired" in r.json()["detail"]

    run(cluster, scenario, clock=clock)


def test_login_throttling(cluster: LocalCluster) -> None:
    limits = AuthLimits(
        login_account=Limit("login-account", 3, 3600), login_address=Limit("login-address", 5, 3600)
    )

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        await signup_and_login(client, bus, "tina@throttle.test")
        bad = {"email": "tina@throttle.test", "password": "not it at all"}
        codes = [(await client.post(f"{API}/auth/login", json=bad)).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        r = await client.post(f"{API}/auth/login", json={**bad, "password": "correct horse 1"})
        assert r.status_code == 429 and r.headers["content-type"] == PROBLEM
        assert 1 <= int(r.headers["Retry-After"]) <= 3600
        # per address: other accounts from the same address add up (2 more failures reach 5)
        for n in range(2):
            r = await client.post(f"{API}/auth/login", json={"email": f"n{n}@throttle.test", "password": "x"})
            assert r.status_code == 401
        r = await client.post(f"{API}/auth/login", json={"email": "new@throttle.test", "password": "x"})
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1

    run(cluster, scenario, limits=limits)


def test_tenant_users_devices_and_isolation(cluster: LocalCluster) -> None:
    seen: dict[str, Any] = {}

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        a = await signup_and_login(client, bus, "owner@a.test", "Tenant A")
        b = await signup_and_login(client, bus, "owner@b.test", "Tenant B")
        ha, hb = bearer(a["access_token"]), bearer(b["access_token"])
        owner_id = a["user"]["id"]

        # no token / bad token: 401 with a Bearer challenge
        r = await client.get(f"{API}/users")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        r = await client.get(f"{API}/users", headers=bearer("garbage"))
        assert r.status_code == 401 and "invalid_token" in r.headers["www-authenticate"]

        # tenant: ETag, If-Match, 412 on stale
        r = await client.get(f"{API}/tenant", headers=ha)
        assert r.status_code == 200 and r.json()["name"] == "Tenant A"
        etag = r.headers["etag"]
        patch = {"time_zone": "Europe/Berlin", "business_hours": {"mon": ["09:00-17:00"]}, "locale": "de-DE"}
        r = await client.patch(f"{API}/tenant", json=patch, headers={**ha, "If-Match": etag})
        assert r.status_code == 200 and r.json()["time_zone"] == "Europe/Berlin"
        assert r.headers["etag"] != etag
        r = await client.patch(f"{API}/tenant", json={"name": "Stale"}, headers={**ha, "If-Match": etag})
        assert r.status_code == 412 and r.headers["content-type"] == PROBLEM
        r = await client.patch(f"{API}/tenant", json={"time_zone": "Mars/Olympus"}, headers=ha)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/time_zone"

        # users: create, clash on extension (409 naming the field), on email, list, get
        member_body = {
            "name": "Max Member",
            "email": "max@a.test",
            "extension": "101",
            "forwarding_numbers": ["+15551230001"],
            "voicemail_pin": "2468",
            "password": "member password",
        }
        r = await client.post(f"{API}/users", json=member_body, headers=ha)
        assert r.status_code == 201, r.text
        member = r.json()
        assert member["has_voicemail_pin"] is True and "voicemail_pin" not in member
        seen.update(tenant_id=a["tenant"]["id"], member_id=member["id"])
        clash = await client.post(
            f"{API}/users", json={"name": "Other", "email": "other@a.test", "extension": "101"}, headers=ha
        )
        assert clash.status_code == 409 and clash.json()["field"] == "extension"
        assert clash.json()["errors"][0]["pointer"] == "/extension"
        dup = await client.post(f"{API}/users", json={"name": "Dup", "email": "owner@b.test"}, headers=ha)
        assert dup.status_code == 409 and dup.json()["field"] == "email"
        # the same extension is fine in another tenant
        r = await client.post(
            f"{API}/users", json={"name": "B one", "email": "one@b.test", "extension": "101"}, headers=hb
        )
        assert r.status_code == 201
        b_user = r.json()["id"]
        r = await client.get(f"{API}/users", headers=ha)
        assert sorted(u["email"] for u in r.json()["items"]) == ["max@a.test", "owner@a.test"]

        # admin update with If-Match; stale If-Match 412
        r = await client.get(f"{API}/users/{member['id']}", headers=ha)
        etag = r.headers["etag"]
        r = await client.patch(
            f"{API}/users/{member['id']}", json={"ring_timeout_s": 40}, headers={**ha, "If-Match": etag}
        )
        assert r.status_code == 200 and r.json()["ring_timeout_s"] == 40
        r = await client.patch(
            f"{API}/users/{member['id']}", json={"ring_timeout_s": 50}, headers={**ha, "If-Match": etag}
        )
        assert r.status_code == 412

        # permissions: a member edits only themselves, never a role
        r = await client.post(
            f"{API}/auth/login", json={"email": "max@a.test", "password": "member password"}
        )
        assert r.status_code == 200
        hm = bearer(r.json()["access_token"])
        r = await client.patch(f"{API}/users/{owner_id}", json={"name": "Hacked"}, headers=hm)
        assert r.status_code == 403
        r = await client.patch(f"{API}/users/{member['id']}", json={"role": "admin"}, headers=hm)
        assert r.status_code == 403
        r = await client.patch(f"{API}/users/{member['id']}", json={"extension": "102"}, headers=hm)
        assert r.status_code == 200 and r.json()["extension"] == "102"
        r = await client.patch(f"{API}/tenant", json={"name": "Mine"}, headers=hm)
        assert r.status_code == 403
        r = await client.post(f"{API}/users", json={"name": "N", "email": "n@a.test"}, headers=hm)
        assert r.status_code == 403
        # the old extension was released, so it can be taken again
        r = await client.post(
            f"{API}/users", json={"name": "Eve", "email": "eve@a.test", "extension": "101"}, headers=ha
        )
        assert r.status_code == 201
        eve = r.json()["id"]

        # the last owner cannot be demoted or deleted
        r = await client.patch(f"{API}/users/{owner_id}", json={"role": "admin"}, headers=ha)
        assert r.status_code == 409 and "last owner" in r.json()["detail"]
        r = await client.delete(f"{API}/users/{owner_id}", headers=ha)
        assert r.status_code == 409

        # tenant isolation: B sees none of A's ids (404, never 403), on every user route
        for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
            r = await client.request(method, f"{API}/users/{member['id']}", json=body, headers=hb)
            assert r.status_code == 404, (method, r.text)
        r = await client.get(f"{API}/users/{b_user}", headers=ha)
        assert r.status_code == 404

        # devices: the member's own
        dev = {"platform": "apns", "token": "a" * 64}
        r = await client.post(f"{API}/devices", json=dev, headers=hm)
        assert r.status_code == 201 and "token" not in r.json()
        device_id = r.json()["id"]
        assert (await client.post(f"{API}/devices", json=dev, headers=hm)).status_code == 200
        r = await client.get(f"{API}/devices", headers=hm)
        assert [d["id"] for d in r.json()["items"]] == [device_id]
        assert (await client.delete(f"{API}/devices/{device_id}", headers=hb)).status_code == 404
        assert (await client.delete(f"{API}/devices/{device_id}", headers=ha)).status_code == 404
        bad_platform = await client.post(
            f"{API}/devices", json={"platform": "wns", "token": "abcdefgh"}, headers=hm
        )
        assert bad_platform.status_code == 422 and bad_platform.json()["errors"][0]["pointer"] == "/platform"
        seen["device_id"] = device_id
        r = await client.post(f"{API}/devices", json={"platform": "fcm", "token": "f" * 150}, headers=hm)
        assert r.status_code == 201
        seen["device2"] = r.json()["id"]
        assert (await client.delete(f"{API}/devices/{device_id}", headers=hm)).status_code == 204
        assert (await client.delete(f"{API}/devices/{device_id}", headers=hm)).status_code == 404

        # bad input: 422 with JSON pointers, never 500
        r = await client.post(
            f"{API}/users",
            json={"name": "", "email": "not-an-email", "extension": "1", "forwarding_numbers": ["555"]},
            headers=ha,
        )
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
        pointers = {e["pointer"] for e in r.json()["errors"]}
        assert {"/name", "/email", "/extension", "/forwarding_numbers/0"} <= pointers
        r = await client.patch(f"{API}/users/{eve}", json={"voicemail_pin": "12"}, headers=ha)
        assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/voicemail_pin"
        r = await client.post(
            f"{API}/signup", content=b"{not json", headers={"content-type": "application/json"}
        )
        assert r.status_code == 422
        r = await client.post(f"{API}/auth/login", json={"email": 5, "password": None})
        assert r.status_code == 422
        r = await client.get(f"{API}/users/not%2Fan%2Fid", headers=ha)
        assert r.status_code == 404
        r = await client.patch(f"{API}/users/{eve}", json={"name": "x"}, headers={**ha, "If-Match": "bogus"})
        assert r.status_code == 412

        # delete a user: its email, extension and devices go with it
        r = await client.delete(f"{API}/users/{member['id']}", headers=ha)
        assert r.status_code == 204
        assert (await client.get(f"{API}/users/{member['id']}", headers=ha)).status_code == 404
        r = await client.post(
            f"{API}/users", json={"name": "Max 2", "email": "max@a.test", "extension": "102"}, headers=ha
        )
        assert r.status_code == 201
        seen["max2"] = r.json()["id"]

    run(cluster, scenario)

    tid = seen["tenant_id"]
    assert read_back(cluster, extension_index_key(tid, "102")) == seen["max2"]
    assert read_back(cluster, user_key(tid, seen["max2"]))["email"] == "max@a.test"
    assert read_back(cluster, tenant_key(tid))["time_zone"] == "Europe/Berlin"
    assert read_back(cluster, user_key(tid, seen["member_id"]), timeout=0.5) is None


@pytest.mark.parametrize("path", ["/tenant", "/users", "/devices"])
def test_openapi_lists_bearer_routes(path: str) -> None:
    app = create_app(IsolatedSettings(configdb_endpoints=["http://127.0.0.1:9"]), bus=RecordingBus())
    spec = app.openapi()
    assert f"{API}{path}" in spec["paths"]


AZURITE_QUEUE = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "azurite-queue"


@pytest.mark.skipif(not AZURITE_QUEUE.exists(), reason="azurite is not installed (npm ci)")
def test_storage_queue_bus_speaks_the_functions_host_encoding(tmp_path: Path) -> None:
    """The real adapter against Azurite: the queue is created, the body arrives base64 JSON."""
    port = free_port()
    proc = subprocess.Popen(
        [
            str(AZURITE_QUEUE),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(port),
            "--location",
            str(tmp_path),
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--silent",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        connection = azurite_connection_string(queue_port=port)
        bus = StorageQueueBus(connection)
        deadline = time.monotonic() + 15
        while True:
            try:
                asyncio.run(bus.send("email", {"kind": "verify", "to": "ann@acme.test"}, "verify-1"))
                break
            except Unavailable:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        queue = QueueClient.from_connection_string(connection, "email")
        messages = list(queue.receive_messages())
        assert [json.loads(decode_body(m.content, "base64")) for m in messages] == [
            {
                "message_id": "verify-1",
                "schema_version": SCHEMA_VERSION,
                "kind": "verify",
                "to": "ann@acme.test",
            }
        ]
        asyncio.run(bus.aclose())
    finally:
        proc.terminate()
        proc.wait(timeout=10)
