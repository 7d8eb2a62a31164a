"""Account takeover and throttles, through the real API against a real 3-node ConfigDB shard.

Owners are changed only by owners; your own password or email needs your current password; a
new email address is used only after its link is followed; password changes and resets, role
changes and deletions end older tokens at once; login, sign-up and reset are throttled per account
and per client address (taken from trusted proxies' X-Forwarded-For), with the counters shared by
every app instance through the ConfigDB; the auth sweeper deletes expired records; a refresh token
reused within the grace window gets a new token of its family.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func
import httpx

from functions.http_api.app import create_app
from infra.local.configdb_cluster import LocalCluster
from shared.adapters.throttle_store import THROTTLE_PREFIX
from shared.configdb import AsyncConfigDBClient
from shared.configdb_keys import email_index_key
from shared.directory.services.auth_sweep import AuthSweeper
from shared.security.rate_limit import AuthLimits, Limit
from tests.integration.test_api_accounts import (
    API,
    PROBLEM,
    RecordingBus,
    SteppedClock,
    bearer,
    read_back,
    settings_for,
    signup_and_login,
    token_in,
)

PASSWORD = "correct horse 1"
Scenario = Callable[[httpx.AsyncClient, RecordingBus], Awaitable[None]]


def run(
    cluster: LocalCluster,
    scenario: Scenario,
    *,
    limits: AuthLimits | None = None,
    clock: SteppedClock | None = None,
    peer: str = "192.0.2.10",
) -> None:
    cluster.wait_healthy()
    bus = RecordingBus()
    app = create_app(settings_for(cluster), bus=bus, limits=limits, clock=clock)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app, client=(peer, 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            await scenario(client, bus)
        await app.state.ctx.aclose()

    asyncio.run(main())


async def add_user(
    client: httpx.AsyncClient, owner: dict[str, Any], email: str, role: str = "member"
) -> tuple[str, dict[str, str], str]:
    """(user id, bearer headers, refresh token) of a new user of the owner's tenant, logged in."""
    r = await client.post(
        f"{API}/users",
        json={"name": "Staff", "email": email, "role": role, "password": PASSWORD},
        headers=bearer(owner["access_token"]),
    )
    assert r.status_code == 201, r.text
    login = await client.post(f"{API}/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return r.json()["id"], bearer(login.json()["access_token"]), login.json()["refresh_token"]


def error_id(r: httpx.Response) -> str:
    assert r.headers["content-type"] == PROBLEM, r.text
    return str(r.json()["type"]).rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- owners and passwords


def test_an_admin_cannot_take_over_the_owner(cluster: LocalCluster) -> None:
    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        owner = await signup_and_login(client, bus, "olga@own.test")
        owner_id = owner["user"]["id"]
        _, admin, _ = await add_user(client, owner, "adam@own.test", role="admin")
        for body in (
            {"password": "taken over 1"},
            {"email": "adam2@own.test"},
            {"role": "member"},
        ):
            r = await client.patch(f"{API}/users/{owner_id}", json=body, headers=admin)
            assert r.status_code == 403, (body, r.text)
            assert error_id(r) in ("forbidden", "password-set-by-user")
        r = await client.delete(f"{API}/users/{owner_id}", headers=admin)
        assert r.status_code == 403
        r = await client.post(f"{API}/users/{owner_id}/password-reset", headers=admin)
        assert r.status_code == 403
        # the owner's other details stay editable by an admin
        r = await client.patch(f"{API}/users/{owner_id}", json={"ring_timeout_s": 30}, headers=admin)
        assert r.status_code == 200, r.text
        # and the owner still logs in with the old password and address
        r = await client.post(f"{API}/auth/login", json={"email": "olga@own.test", "password": PASSWORD})
        assert r.status_code == 200

    run(cluster, scenario)


def test_changing_your_own_password_needs_the_current_one_and_ends_older_sessions(
    cluster: LocalCluster,
) -> None:
    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        owner = await signup_and_login(client, bus, "pat@pw.test")
        me, old_access = owner["user"]["id"], bearer(owner["access_token"])
        r = await client.patch(f"{API}/users/{me}", json={"password": "new password 2"}, headers=old_access)
        assert r.status_code == 403 and error_id(r) == "current-password"
        assert r.json()["errors"][0]["pointer"] == "/current_password"
        r = await client.patch(
            f"{API}/users/{me}",
            json={"password": "new password 2", "current_password": "not my password"},
            headers=old_access,
        )
        assert r.status_code == 403 and error_id(r) == "current-password"
        r = await client.post(f"{API}/auth/login", json={"email": "pat@pw.test", "password": PASSWORD})
        assert r.status_code == 200, "a refused change must leave the password as it was"
        r = await client.patch(
            f"{API}/users/{me}",
            json={"password": "new password 2", "current_password": PASSWORD},
            headers=old_access,
        )
        assert r.status_code == 200, r.text
        # every token issued before the change stops at once
        r = await client.get(f"{API}/users/{me}", headers=old_access)
        assert r.status_code == 401 and error_id(r) == "invalid-token"
        r = await client.post(f"{API}/auth/refresh", json={"refresh_token": owner["refresh_token"]})
        assert r.status_code == 401
        r = await client.post(
            f"{API}/auth/login", json={"email": "pat@pw.test", "password": "new password 2"}
        )
        assert r.status_code == 200
        fresh = bearer(r.json()["access_token"])

        # an admin never sets another user's password: a reset link goes to the user instead
        member_id, _, _ = await add_user(client, {"access_token": r.json()["access_token"]}, "mo@pw.test")
        r = await client.patch(f"{API}/users/{member_id}", json={"password": "admin chose 1"}, headers=fresh)
        assert r.status_code == 403 and error_id(r) == "password-set-by-user"
        r = await client.post(f"{API}/users/{member_id}/password-reset", headers=fresh)
        assert r.status_code == 202
        assert "reset-password?token=" in bus.last("password-reset", "mo@pw.test")["text"]

    run(cluster, scenario)


def test_guessing_the_current_password_locks_the_account_like_failed_logins(cluster: LocalCluster) -> None:
    limits = AuthLimits(login_account=Limit("login-account", 2, 3600))

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        owner = await signup_and_login(client, bus, "gus@guess.test")
        me, h = owner["user"]["id"], bearer(owner["access_token"])
        codes = []
        for guess in ("guess one", "guess two", PASSWORD):
            r = await client.patch(
                f"{API}/users/{me}", json={"password": "new password 9", "current_password": guess}, headers=h
            )
            codes.append(r.status_code)
        assert codes == [403, 403, 429]
        r = await client.post(f"{API}/auth/login", json={"email": "gus@guess.test", "password": PASSWORD})
        assert r.status_code == 429 and error_id(r) == "throttled"

    run(cluster, scenario, limits=limits)


def test_a_password_reset_revokes_every_refresh_token(cluster: LocalCluster) -> None:
    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        first = await signup_and_login(client, bus, "rita@reset.test")
        second = await client.post(
            f"{API}/auth/login", json={"email": "rita@reset.test", "password": PASSWORD}
        )
        assert second.status_code == 200
        assert (
            await client.post(f"{API}/auth/password-reset", json={"email": "rita@reset.test"})
        ).status_code == 202
        token = token_in(bus.last("password-reset", "rita@reset.test"))
        r = await client.post(
            f"{API}/auth/password-reset/confirm", json={"token": token, "password": "after reset 3"}
        )
        assert r.status_code == 204
        for refresh in (first["refresh_token"], second.json()["refresh_token"]):
            r = await client.post(f"{API}/auth/refresh", json={"refresh_token": refresh})
            assert r.status_code == 401, r.text
        r = await client.get(f"{API}/tenant", headers=bearer(first["access_token"]))
        assert r.status_code == 401

    run(cluster, scenario)


# --------------------------------------------------------------------------- email changes


def test_a_new_email_is_used_only_after_its_link_is_followed(cluster: LocalCluster) -> None:
    seen: dict[str, Any] = {}

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        owner = await signup_and_login(client, bus, "eve@old.test")
        me, h = owner["user"]["id"], bearer(owner["access_token"])
        seen["tid"], seen["uid"] = owner["tenant"]["id"], me
        r = await client.patch(f"{API}/users/{me}", json={"email": "eve@new.test"}, headers=h)
        assert r.status_code == 403 and error_id(r) == "current-password"
        r = await client.patch(
            f"{API}/users/{me}", json={"email": "eve@new.test", "current_password": PASSWORD}, headers=h
        )
        assert r.status_code == 200, r.text
        assert r.json()["email"] == "eve@old.test" and r.json()["pending_email"] == "eve@new.test"
        link = bus.last("email-change", "eve@new.test")
        assert "/verify?token=" in link["text"]
        assert "eve@new.test" in bus.last("email-change-notice", "eve@old.test")["text"]
        # not used yet: the login and the index stay on the old address
        new_login = {"email": "eve@new.test", "password": PASSWORD}
        assert (await client.post(f"{API}/auth/login", json=new_login)).status_code == 401
        r = await client.post(f"{API}/auth/login", json={**new_login, "email": "eve@old.test"})
        assert r.status_code == 200
        r = await client.post(f"{API}/auth/password-reset", json={"email": "eve@new.test"})
        assert r.status_code == 202
        assert not [
            b for q, b, _ in bus.sent if b.get("kind") == "password-reset" and b["to"] == "eve@new.test"
        ]

        r = await client.post(f"{API}/signup/verify", json={"token": token_in(link)})
        assert r.status_code == 200, r.text
        assert r.json()["email"] == "eve@new.test" and r.json()["user_id"] == me
        assert (await client.post(f"{API}/auth/login", json=new_login)).status_code == 200
        r = await client.post(f"{API}/auth/login", json={**new_login, "email": "eve@old.test"})
        assert r.status_code == 401
        got = (await client.get(f"{API}/users/{me}", headers=h)).json()
        assert got["email"] == "eve@new.test" and got["pending_email"] is None
        assert (await client.post(f"{API}/signup/verify", json={"token": token_in(link)})).status_code == 400

        # an address someone already has: 409 at once, nothing pending
        other = await signup_and_login(client, bus, "taken@other.test", "Other")
        assert other["user"]["id"]
        r = await client.patch(
            f"{API}/users/{me}", json={"email": "taken@other.test", "current_password": PASSWORD}, headers=h
        )
        assert r.status_code == 409 and r.json()["field"] == "email"

    run(cluster, scenario)
    assert read_back(cluster, email_index_key("eve@new.test")) == {
        "tenant_id": seen["tid"],
        "user_id": seen["uid"],
    }
    assert read_back(cluster, email_index_key("eve@old.test"), timeout=0.5) is None


# --------------------------------------------------------------------------- access tokens


def test_a_deleted_user_or_a_lowered_role_loses_access_at_once(cluster: LocalCluster) -> None:
    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        owner = await signup_and_login(client, bus, "dora@del.test")
        ho = bearer(owner["access_token"])
        admin_id, admin, admin_refresh = await add_user(client, owner, "al@del.test", role="admin")
        member_id, member, _ = await add_user(client, owner, "mia@del.test")
        assert (await client.get(f"{API}/tenant", headers=admin)).status_code == 200
        assert (await client.patch(f"{API}/tenant", json={"name": "Mine"}, headers=admin)).status_code == 200

        r = await client.patch(f"{API}/users/{admin_id}", json={"role": "member"}, headers=ho)
        assert r.status_code == 200 and r.json()["role"] == "member"
        r = await client.patch(f"{API}/tenant", json={"name": "Still mine"}, headers=admin)
        assert r.status_code == 401 and error_id(r) == "invalid-token"
        assert (
            await client.post(f"{API}/auth/refresh", json={"refresh_token": admin_refresh})
        ).status_code == 401
        r = await client.post(f"{API}/auth/login", json={"email": "al@del.test", "password": PASSWORD})
        demoted = bearer(r.json()["access_token"])
        r = await client.patch(f"{API}/tenant", json={"name": "Still mine"}, headers=demoted)
        assert r.status_code == 403  # logged in again: a member now

        assert (await client.get(f"{API}/users", headers=member)).status_code == 200
        assert (await client.delete(f"{API}/users/{member_id}", headers=ho)).status_code == 204
        r = await client.get(f"{API}/users", headers=member)
        assert r.status_code == 401 and "no longer exists" in r.json()["detail"]

    run(cluster, scenario)


# --------------------------------------------------------------------------- refresh grace


def test_refresh_reuse_within_the_grace_gets_a_token_and_after_it_revokes_the_family(
    cluster: LocalCluster,
) -> None:
    clock = SteppedClock()

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        pair = await signup_and_login(client, bus, "gil@grace.test")
        first = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert first.status_code == 200
        clock.offset += dt.timedelta(seconds=5)  # a second tab, or the first answer was lost
        again = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert again.status_code == 200, again.text
        assert again.json()["refresh_token"] not in (pair["refresh_token"], first.json()["refresh_token"])
        # both successors belong to the live family
        r = await client.post(f"{API}/auth/refresh", json={"refresh_token": again.json()["refresh_token"]})
        assert r.status_code == 200
        latest = r.json()["refresh_token"]

        clock.offset += dt.timedelta(seconds=30)  # past the grace: reuse revokes the whole family
        reuse = await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert reuse.status_code == 401 and "already used" in reuse.json()["detail"]
        assert (await client.post(f"{API}/auth/refresh", json={"refresh_token": latest})).status_code == 401

    run(cluster, scenario, clock=clock)


# --------------------------------------------------------------------------- throttles


def test_login_lockout_follows_the_client_behind_a_trusted_proxy(cluster: LocalCluster) -> None:
    limits = AuthLimits(login_address=Limit("login-address", 2, 3600))

    async def bad(client: httpx.AsyncClient, xff: str, n: int) -> int:
        body = {"email": f"nobody{n}@xff.test", "password": "wrong wrong"}
        r = await client.post(f"{API}/auth/login", json=body, headers={"X-Forwarded-For": xff})
        return r.status_code

    async def via_proxy(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        # the caller wrote a fake first hop; the proxy appended the real address
        assert [await bad(client, f"10.9.9.{n}, 198.51.100.1", n) for n in range(3)] == [401, 401, 429]
        assert await bad(client, "198.51.100.2", 9) == 401  # another client is not locked out

    run(cluster, via_proxy, limits=limits, peer="127.0.0.1")

    async def untrusted(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        # a peer outside TRUSTED_PROXIES cannot pick its address: all of these count on the peer
        codes = [await bad(client, f"203.0.113.{n}", n) for n in range(3)]
        assert codes == [401, 401, 429]

    run(cluster, untrusted, limits=limits, peer="192.0.2.77")


def test_under_the_functions_host_each_forwarded_client_counts_alone(cluster: LocalCluster) -> None:
    """AsgiFunctionApp's scope has no peer: the front end's X-Forwarded-For names the client."""
    cluster.wait_healthy()
    limits = AuthLimits(login_address=Limit("login-address", 2, 3600))
    app = create_app(settings_for(cluster), bus=RecordingBus(), limits=limits)
    middleware = func.AsgiMiddleware(app)

    async def login(xff: str, n: int) -> int:
        req = func.HttpRequest(
            method="POST",
            url="http://fn.test/api/v1/auth/login",
            headers={"content-type": "application/json", "x-forwarded-for": xff},
            body=f'{{"email": "fn{n}@host.test", "password": "wrong wrong"}}'.encode(),
        )
        resp = await middleware.handle_async(req)
        return resp.status_code

    async def main() -> None:
        assert [await login("198.51.100.7:50123", n) for n in range(3)] == [401, 401, 429]
        assert await login("198.51.100.8:40000", 5) == 401
        await app.state.ctx.aclose()

    asyncio.run(main())


def test_signup_and_reset_are_throttled_per_address_and_per_account(cluster: LocalCluster) -> None:
    limits = AuthLimits(
        signup_address=Limit("signup-address", 2, 3600), reset_account=Limit("reset-account", 2, 3600)
    )

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        codes = []
        for n in range(3):
            body = {"company": f"Co{n}", "name": "Sam", "email": f"sam{n}@signup.test", "password": PASSWORD}
            codes.append((await client.post(f"{API}/signup", json=body)).status_code)
        assert codes[:2] == [201, 201] and codes[2] == 429
        r = await client.post(
            f"{API}/signup",
            json={"company": "C", "name": "S", "email": "x@signup.test", "password": PASSWORD},
        )
        assert (
            r.status_code == 429 and error_id(r) == "throttled" and 1 <= int(r.headers["Retry-After"]) <= 3600
        )

        resets = [
            (await client.post(f"{API}/auth/password-reset", json={"email": "sam0@signup.test"})).status_code
            for _ in range(3)
        ]
        assert resets == [202, 202, 429]
        sent = [b for _, b, _ in bus.sent if b.get("kind") == "password-reset"]
        assert len(sent) == 2

    run(cluster, scenario, limits=limits)


def test_the_verification_link_is_sent_again_and_resends_are_throttled(cluster: LocalCluster) -> None:
    limits = AuthLimits(resend_account=Limit("resend-account", 1, 3600))

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        body = {"company": "Late Co", "name": "Lee", "email": "lee@resend.test", "password": PASSWORD}
        assert (await client.post(f"{API}/signup", json=body)).status_code == 201
        first = token_in(bus.last("verify", "lee@resend.test"))
        r = await client.post(f"{API}/signup/verify/resend", json={"email": "lee@resend.test"})
        assert r.status_code == 202
        second = token_in(bus.last("verify", "lee@resend.test"))
        assert second != first
        r = await client.post(f"{API}/signup/verify/resend", json={"email": "lee@resend.test"})
        assert r.status_code == 429 and error_id(r) == "throttled" and int(r.headers["Retry-After"]) >= 1
        assert (await client.post(f"{API}/signup/verify", json={"token": second})).status_code == 200
        # no such account: 202 and no email
        before = len(bus.sent)
        r = await client.post(f"{API}/signup/verify/resend", json={"email": "ghost@resend.test"})
        assert r.status_code == 202 and len(bus.sent) == before
        login = await client.post(
            f"{API}/auth/login", json={"email": "lee@resend.test", "password": PASSWORD}
        )
        assert login.status_code == 200

    run(cluster, scenario, limits=limits)


def test_limits_are_shared_by_two_app_instances(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    limits = AuthLimits(login_account=Limit("login-account", 3, 3600))
    apps = [create_app(settings_for(cluster), bus=RecordingBus(), limits=limits) for _ in range(2)]

    async def main() -> None:
        clients = [
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=a, client=("192.0.2.1", 1)), base_url="http://x"
            )
            for a in apps
        ]
        bad = {"email": "shared@limit.test", "password": "wrong wrong"}
        codes = [(await clients[n % 2].post(f"{API}/auth/login", json=bad)).status_code for n in range(3)]
        assert codes == [401, 401, 401]
        for c in clients:
            r = await c.post(f"{API}/auth/login", json=bad)
            assert r.status_code == 429, r.text
        for c, a in zip(clients, apps, strict=True):
            await c.aclose()
            await a.state.ctx.aclose()

    asyncio.run(main())


# --------------------------------------------------------------------------- the sweeper


def test_the_sweeper_deletes_expired_auth_records_only(cluster: LocalCluster) -> None:
    clock = SteppedClock()
    limits = AuthLimits(login_account=Limit("login-account", 5, 60))

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        pair = await signup_and_login(client, bus, "sue@sweep.test")
        await client.post(f"{API}/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        await client.post(f"{API}/auth/password-reset", json={"email": "sue@sweep.test"})
        await client.post(f"{API}/auth/login", json={"email": "x@sweep.test", "password": "wrong wrong"})

    run(cluster, scenario, clock=clock, limits=limits)

    async def keys(db: AsyncConfigDBClient, prefix: str) -> list[str]:
        return [kv.key async for kv in db.iter_prefix(prefix)]

    async def sweep() -> None:
        async with AsyncConfigDBClient(cluster.endpoints, cluster.token) as db:
            before = {p: await keys(db, f"auth/{p}/") for p in ("refresh", "reset", "throttle", "unverified")}
            assert len(before["refresh"]) == 2 and before["reset"] and before["throttle"]
            ttl = dt.timedelta(days=30)
            # an hour and a bit later: the reset link (1 h) and the counters (60 s) are gone
            clock.offset = dt.timedelta(hours=1, minutes=1)
            tally = await AuthSweeper(db, clock, ttl).run()
            assert tally.notes["reset_deleted"] == len(before["reset"])
            assert tally.notes["throttle_deleted"] >= 1
            assert await keys(db, "auth/reset/") == [] and await keys(db, THROTTLE_PREFIX) == []
            assert len(await keys(db, "auth/refresh/")) == 2  # refresh tokens live 30 days
            clock.offset = dt.timedelta(days=31)
            tally = await AuthSweeper(db, clock, ttl).run()
            assert tally.notes["refresh_deleted"] == 2
            assert await keys(db, "auth/refresh/") == []
            again = await AuthSweeper(db, clock, ttl).run()
            assert again.done == 0

    asyncio.run(sweep())
