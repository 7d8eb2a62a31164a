"""Click-to-call end to end, with real processes: the platform (Azurite, 3 ConfigDB nodes, the
functions host), the SIP edge, and the provider stand-in answering both legs with its own tone.

`POST /api/v1/calls` in the functions app -> the edge's control API -> the user's phone rings
and answers -> the edge dials the destination -> bridge. Assertions are on what each phone heard
(tone frequencies), on `/calls/active` while the call is up, on hang-up through the API, on the
call record in the History DB, and on tenant and member isolation.

The outbound policy (`/outbound-policy`) and the refusals are driven through the same processes:
the sample rate deck is published by `rates_sync` first (a call is priced before it is placed).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.configdb_cluster import free_port
from infra.local.managed import ManagedProcess
from infra.local.stack import LocalStack, signup_verified
from shared.adapters.edge_control import HttpEdgeControl
from shared.calls.errors import CallRefused
from shared.calls.models import CallLimits
from shared.configdb import ConfigDBClient
from shared.configdb_keys import tenant_key
from shared.errors import Unavailable
from shared.history.models.call import CallRecord
from tests.integration.test_reports_rates_quality import run_and_wait
from tests.sip_fixtures import SimProcess, edge_events, start_edge, start_provider_sim, wait_call_record
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(300)

TOKEN = "c2c-edge-token"
OWNER_PHONE = "+15550002001"  # the owner's mobile: answers, plays 700 Hz
MEMBER_PHONE = "+15550002002"  # the member's mobile: answers, plays 700 Hz
DEST = "+15550003001"  # a customer: answers, plays 1200 Hz
DEST_RINGING = "+15550003002"  # never answers
JAMAICA = "+18765551234"  # +1, but another country
PREMIUM = "+19005551234"  # US premium rate
SATELLITE = "+88163000000"  # Iridium
USER_HZ, DEST_HZ = 700.0, 1200.0
USER_RING_S = 1.0
PHONE = {"action": "answer", "ring_s": USER_RING_S, "tone_hz": USER_HZ, "echo": False}
RULES = {
    OWNER_PHONE: PHONE,
    MEMBER_PHONE: PHONE,
    DEST: {"action": "answer", "ring_s": 0.3, "tone_hz": DEST_HZ, "echo": False},
    DEST_RINGING: {"action": "no_answer"},
}


@dataclass
class Platform:
    stack: LocalStack
    sim: SimProcess
    edge: ManagedProcess
    base: Path
    control_port: int
    tenant_id: str
    owner_id: str
    owner: str  # access tokens
    member_id: str
    member: str
    phoneless: str  # a member with no forwarding number
    phoneless_id: str
    stranger: str  # the owner of another tenant

    def api(self, access: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {access}"} if access else {}
        return httpx.Client(base_url=self.stack.api, headers=headers, timeout=15)

    def record(self, call_id: str, timeout: float = 15.0) -> CallRecord:
        return wait_call_record(self.stack.settings, self.tenant_id, call_id, self.edge, timeout)

    def nth_event(self, name: str, n: int, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        """The n-th (0-based) provider event `name` matching `match`, waiting for it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.sim.events(name, **match)
            if len(found) > n:
                return found[n]
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"no {name} #{n} {match}; sim:\n{self.sim.proc.log_tail()}\nedge:\n{self.edge.log_tail()}"
                )
            time.sleep(0.05)

    def active(self, access: str) -> list[dict[str, Any]]:
        with self.api(access) as api:
            r = api.get("/calls/active")
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    def wait_state(self, access: str, call_id: str, state: str, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            seen = self.active(access)
            for call in seen:
                if call["call_id"] == call_id and call["state"] == state:
                    return call
            time.sleep(0.1)
        raise AssertionError(f"{call_id} never {state}: {seen}\nedge:\n{self.edge.log_tail()}")


def _user(api: httpx.Client, body: dict[str, Any]) -> str:
    r = api.post("/users", json=body)
    r.raise_for_status()
    return str(r.json()["id"])


def _login(stack: LocalStack, email: str, password: str) -> str:
    r = httpx.post(f"{stack.api}/auth/login", json={"email": email, "password": password}, timeout=10)
    r.raise_for_status()
    return str(r.json()["access_token"])


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    base = tmp_path_factory.mktemp("c2c")
    control_port = free_port()
    overrides = {"edge_control_url": f"http://127.0.0.1:{control_port}", "edge_control_token": TOKEN}
    with LocalStack(base / "stack", settings_overrides=overrides) as stack:
        tenant_id, owner = signup_verified(stack, "owner@c2c-a.example")
        _, stranger = signup_verified(stack, "owner@c2c-b.example", company="Other Co")
        with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {owner}"}) as api:
            me = next(u for u in api.get("/users").json()["items"] if u["email"] == "owner@c2c-a.example")
            api.patch(f"/users/{me['id']}", json={"forwarding_numbers": [OWNER_PHONE]}).raise_for_status()
            password = "member password 123"
            member_id = _user(
                api,
                {
                    "name": "Mia",
                    "email": "mia@c2c-a.example",
                    "forwarding_numbers": [MEMBER_PHONE],
                    "password": password,
                },
            )
            phoneless_id = _user(api, {"name": "Nils", "email": "nils@c2c-a.example", "password": password})
        member = _login(stack, "mia@c2c-a.example", password)
        phoneless = _login(stack, "nils@c2c-a.example", password)
        published = run_and_wait(stack, "rates_sync")  # the sample deck: +1 0.009/min, +1555 0.01/min
        assert published["rates_outcome"] == "published", published
        sim = start_provider_sim(base / "sim", RULES)
        try:
            edge, _, _ = start_edge(
                stack, sim, base, EDGE_CONTROL_PORT=str(control_port), EDGE_CONTROL_TOKEN=TOKEN
            )
            p = Platform(
                stack,
                sim,
                edge,
                base,
                control_port,
                tenant_id,
                me["id"],
                owner,
                member_id,
                member,
                phoneless,
                phoneless_id,
                stranger,
            )
            try:
                yield p
            finally:
                p.edge.stop()
        finally:
            sim.stop()


def _heard(event: dict[str, Any], hz: float) -> bool:
    return any(abs(f - hz) < 20 for f in event.get("heard_hz") or [])


def test_click_to_call_rings_the_user_then_bridges_the_destination(platform: Platform) -> None:
    p = platform
    with p.api(p.owner) as api:
        r = api.post("/calls", json={"destination": DEST})
    assert r.status_code == 202, r.text
    call = r.json()
    call_id = call["call_id"]
    assert call["direction"] == "click_to_call" and call["state"] == "ringing_user"
    assert (call["tenant_id"], call["user_id"]) == (p.tenant_id, p.owner_id)
    assert (call["caller"], call["number_called"]) == (OWNER_PHONE, DEST)

    # the user's phone rings first (showing the destination as caller); only once it answers
    # (after ringing USER_RING_S) is the destination dialed
    user_incoming = p.nth_event("incoming", 0, number=OWNER_PHONE)
    assert DEST in str(user_incoming.get("caller")), user_incoming
    p.nth_event("answered", 0, number=OWNER_PHONE)
    dest_incoming = p.nth_event("incoming", 0, number=DEST)
    assert dest_incoming["ts"] - user_incoming["ts"] >= USER_RING_S - 0.05, (user_incoming, dest_incoming)
    p.nth_event("answered", 0, number=DEST)

    # while up, the tenant's owner sees it, bridged
    up = p.wait_state(p.owner, call_id, "bridged")
    assert up["direction"] == "click_to_call"
    time.sleep(2.5)  # let audio flow both ways

    # another tenant can neither see nor hang up the call
    assert all(c["call_id"] != call_id for c in p.active(p.stranger))
    with p.api(p.stranger) as api:
        r = api.delete(f"/calls/active/{call_id}")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert any(c["call_id"] == call_id for c in p.active(p.owner)), "the stranger's DELETE hung it up"

    with p.api(p.owner) as api:
        r = api.delete(f"/calls/active/{call_id}")
        assert r.status_code == 204, r.text
        user_end = p.nth_event("hangup", 0, number=OWNER_PHONE)
        dest_end = p.nth_event("hangup", 0, number=DEST)
        assert _heard(user_end, DEST_HZ) and not _heard(user_end, USER_HZ), user_end
        assert _heard(dest_end, USER_HZ) and not _heard(dest_end, DEST_HZ), dest_end
        assert user_end["by"] == dest_end["by"] == "remote", (user_end, dest_end)
        assert all(c["call_id"] != call_id for c in p.active(p.owner))
        assert api.delete(f"/calls/active/{call_id}").status_code == 404

    rec = p.record(call_id)
    assert rec.direction == "click_to_call" and rec.user_id == p.owner_id
    assert (rec.caller, rec.number_called) == (OWNER_PHONE, DEST)
    assert rec.disposition == "answered" and rec.hangup_reason == "hangup_requested"
    assert [(leg.kind, leg.destination, leg.outcome) for leg in rec.legs] == [
        ("click_to_call", OWNER_PHONE, "answered"),
        ("forward", DEST, "answered"),
    ]
    assert rec.answered_at is not None and rec.ended_at is not None
    assert (rec.ended_at - rec.answered_at).total_seconds() > 2.0
    for leg in rec.legs:
        assert leg.quality is not None and leg.quality.packets_rx > 50, leg
    # the history API (GET /calls/{id}) shows it too, in the same tenant only
    with p.api(p.owner) as api:
        assert api.get(f"/calls/{call_id}").status_code == 200
    with p.api(p.stranger) as api:
        assert api.get(f"/calls/{call_id}").status_code == 404


def test_members_see_and_hang_up_only_their_own_calls(platform: Platform) -> None:
    p = platform
    with p.api(p.owner) as api:
        r = api.post("/calls", json={"destination": DEST_RINGING})  # rings on and on
    assert r.status_code == 202, r.text
    owners = r.json()["call_id"]
    with p.api(p.member) as api:
        r = api.post("/calls", json={"destination": DEST})
    assert r.status_code == 202, r.text
    members = r.json()["call_id"]
    assert r.json()["user_id"] == p.member_id

    p.wait_state(p.owner, owners, "dialing_destination")
    p.wait_state(p.owner, members, "bridged")
    assert {c["call_id"] for c in p.active(p.owner)} >= {owners, members}
    assert [c["call_id"] for c in p.active(p.member)] == [members]

    with p.api(p.member) as api:
        assert api.delete(f"/calls/active/{owners}").status_code == 404
        assert api.delete(f"/calls/active/{members}").status_code == 204
    with p.api(p.owner) as api:
        assert api.delete(f"/calls/active/{owners}").status_code == 204  # cancels the ringing leg

    ringing = p.nth_event("cancelled", 0, number=DEST_RINGING)
    assert ringing
    rec = p.record(owners)
    assert rec.hangup_reason == "hangup_requested" and rec.answered_at is None
    assert rec.disposition == "missed"
    assert [(leg.destination, leg.outcome) for leg in rec.legs] == [
        (OWNER_PHONE, "answered"),
        (DEST_RINGING, "cancelled"),
    ]
    rec = p.record(members)
    assert rec.user_id == p.member_id and rec.disposition == "answered"
    deadline = time.monotonic() + 10
    while p.active(p.owner) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert p.active(p.owner) == []


def _lines_of(log_path: Path, name: str, call_id: str) -> list[dict[str, Any]]:
    return [e for e in edge_events(log_path, name) if e.get("call_id") == call_id]


def test_one_trace_id_from_the_api_request_to_the_edge_call(platform: Platform) -> None:
    """The client's W3C traceparent runs through the functions host (its log line for the call)
    and the edge-control request into the call the edge places (its log lines, written by the
    call's own task until it ends, even when another request hangs it up)."""
    p = platform
    trace = secrets.token_hex(16)
    traceparent = f"00-{trace}-{secrets.token_hex(8)}-01"
    rung = len(p.sim.events("incoming", number=OWNER_PHONE))
    with p.api(p.owner) as api:
        r = api.post("/calls", json={"destination": DEST_RINGING}, headers={"traceparent": traceparent})
        assert r.status_code == 202, r.text
        assert r.headers["traceparent"].split("-")[1] == trace
        call_id = r.json()["call_id"]
        p.nth_event("incoming", rung, number=OWNER_PHONE)  # the edge rings the user: the call runs
        assert api.delete(f"/calls/active/{call_id}").status_code == 204
    placed = _lines_of(p.stack.host.log_path, "click_to_call_placed", call_id)
    assert [line.get("trace_id") for line in placed] == [trace], placed
    ended = eventually(
        lambda: _lines_of(p.edge.log_path, "click_to_call_ended", call_id), message="the call's end line"
    )
    dialing = _lines_of(p.edge.log_path, "leg_dialing", call_id)
    assert dialing and ended
    assert {line.get("trace_id") for line in dialing + ended} == {trace}, dialing + ended
    _wait_gone(p, p.owner)


def test_bad_requests_answer_problems(platform: Platform) -> None:
    p = platform
    with p.api(p.owner) as api:
        for body in (
            {"destination": "555-1234"},
            {"destination": "+1 555 000"},
            {},
            {"destination": 15551234},
        ):
            r = api.post("/calls", json=body)
            assert r.status_code == 422, (body, r.text)
            assert r.headers["content-type"] == "application/problem+json"
        r = api.post("/calls", json={"destination": DEST, "from": OWNER_PHONE})
        assert r.status_code == 422
        assert api.delete("/calls/active/..%2F..").status_code == 404
        assert api.delete("/calls/active/nope").status_code == 404
    with p.api(p.phoneless) as api:
        r = api.post("/calls", json={"destination": DEST})
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("/no-forwarding-number")
    with p.api(None) as api:
        assert api.post("/calls", json={"destination": DEST}).status_code == 401
        assert api.get("/calls/active").status_code == 401
    assert p.active(p.owner) == []


def test_the_adapter_maps_the_edges_answers(platform: Platform) -> None:
    p = platform
    url = f"http://127.0.0.1:{p.control_port}"

    async def run() -> None:
        edge, wrong = HttpEdgeControl(url, TOKEN), HttpEdgeControl(url, "not-the-token")
        try:
            assert await edge.active_calls(p.tenant_id) == []
            with pytest.raises(CallRefused) as refused:
                await edge.click_to_call(p.tenant_id, "01NOSUCHUSER0000000000000", DEST)
            assert refused.value.status == 404
            with pytest.raises(CallRefused) as refused:
                await edge.click_to_call(p.tenant_id, p.phoneless_id, DEST)
            assert refused.value.status == 422
            assert await edge.hang_up(p.tenant_id, "nope") is False
            assert await edge.hang_up(p.tenant_id, "../../health") is False  # one path segment
            with pytest.raises(Unavailable):  # a wrong token is a deployment fault: 503, not the user's
                await wrong.active_calls(p.tenant_id)
            # Bodies the control API refuses, on both call-placing routes.
            auth = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=url, headers=auth) as raw:
                for path in ("/v1/calls", "/v1/code-calls"):
                    bad = await raw.post(path, content=b'{"tenant_id": 5}')
                    assert bad.status_code == 422 and bad.json()["errors"], path
                    big = await raw.post(path, content=b"x" * (64 * 1024))
                    assert big.status_code == 413, path
        finally:
            await edge.aclose()
            await wrong.aclose()

    asyncio.run(run())


def test_edge_unreachable_is_503_not_500(platform: Platform) -> None:
    p = platform
    p.edge.stop()
    try:
        with p.api(p.owner) as api:
            for method, path, body in (
                ("POST", "/calls", {"destination": DEST}),
                ("GET", "/calls/active", None),
                ("DELETE", "/calls/active/0123456789abcdef", None),
            ):
                r = api.request(method, path, json=body)
                assert r.status_code == 503, (method, path, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert r.headers["retry-after"] == "1"
    finally:
        p.edge, _, _ = start_edge(
            p.stack, p.sim, p.base, EDGE_CONTROL_PORT=str(p.control_port), EDGE_CONTROL_TOKEN=TOKEN
        )
    assert p.active(p.owner) == []


# --------------------------------------------------------------------------- the outbound policy


def _problem(r: httpx.Response, status: int, error_id: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = r.json()
    assert body["type"].endswith(f"/{error_id}"), body
    return body


def _tenant_doc(stack: LocalStack, tenant_id: str, **changes: Any) -> None:
    with ConfigDBClient(stack.cluster.endpoints, stack.cluster.token) as db:
        kv = db.get(tenant_key(tenant_id))
        db.put(tenant_key(tenant_id), {**kv.value, **changes}, prev_revision=kv.revision)


def _wait_gone(p: Platform, access: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while p.active(access) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert p.active(access) == []


def test_policy_reads_defaults_and_only_managers_replace_it(platform: Platform) -> None:
    p = platform
    with p.api(p.member) as api:
        r = api.get("/outbound-policy")
        assert r.status_code == 200, r.text
        got = r.json()
        assert got["allowed_countries"] is None and got["effective_countries"] == ["US"]
        assert got["home_country"] == "US" and got["currency"] == "USD"
        assert got["monthly_spend_cap"] == "50" and got["max_concurrent_calls"] == 3
        assert any("premium" in kind for kind in got["always_blocked"])
        assert r.headers["etag"] == '"0"'
        _problem(api.put("/outbound-policy", json={"allowed_countries": ["US", "JM"]}), 403, "forbidden")
    with p.api(p.owner) as api:
        bad = _problem(
            api.put("/outbound-policy", json={"allowed_countries": ["US", "XX"]}), 422, "validation"
        )
        assert bad["errors"][0]["pointer"] == "/allowed_countries/1", bad
        _problem(api.put("/outbound-policy", json={"allowed_countries": ["us"]}), 422, "validation")
        _problem(api.put("/outbound-policy", json={"monthly_spend_cap": -1}), 422, "validation")
        _problem(api.put("/outbound-policy", json={"max_call_duration_s": 5}), 422, "validation")
        _problem(api.put("/outbound-policy", json={"surprise": 1}), 422, "validation")
        stale = api.put("/outbound-policy", json={}, headers={"If-Match": '"7"'})
        _problem(stale, 412, "precondition-failed")
        r = api.put("/outbound-policy", json={"allowed_countries": ["US", "CA"]}, headers={"If-Match": '"0"'})
        assert r.status_code == 200, r.text
        assert r.json()["effective_countries"] == ["CA", "US"] and r.json()["updated_by"] == p.owner_id
        etag = r.headers["etag"]
        r = api.put("/outbound-policy", json={}, headers={"If-Match": etag})  # back to the defaults
        assert r.status_code == 200 and r.json()["effective_countries"] == ["US"], r.text
        assert api.get("/outbound-policy").headers["etag"] == r.headers["etag"] != etag


def test_destinations_the_policy_refuses_are_403_and_nothing_is_dialled(platform: Platform) -> None:
    p = platform
    dialled_before = len(p.sim.events("incoming"))
    with p.api(p.owner) as api:
        body = _problem(
            api.post("/calls", json={"destination": JAMAICA}), 403, "destination-country-not-allowed"
        )
        assert (
            body["country"] == "JM" and body["allowed_countries"] == ["US"] and body["leg"] == "destination"
        )
        _problem(api.post("/calls", json={"destination": PREMIUM}), 403, "destination-premium-rate")
        _problem(api.post("/calls", json={"destination": SATELLITE}), 403, "destination-satellite")
        # allowing every country still never calls a satellite or premium number
        r = api.put("/outbound-policy", json={"allowed_countries": ["US", "JM", "GB"]})
        assert r.status_code == 200, r.text
        _problem(api.post("/calls", json={"destination": SATELLITE}), 403, "destination-satellite")
        _problem(api.post("/calls", json={"destination": PREMIUM}), 403, "destination-premium-rate")
        assert api.put("/outbound-policy", json={}).status_code == 200
        # nobody's phone can be a premium or satellite number: inbound calls are forwarded there too
        for number in (PREMIUM, SATELLITE):
            r = api.patch(f"/users/{p.member_id}", json={"forwarding_numbers": [MEMBER_PHONE, number]})
            body = _problem(r, 422, "forwarding-number-not-allowed")
            assert body["errors"][0]["pointer"] == "/forwarding_numbers/1", body
        # a phone in a country the policy does not allow is kept, but click-to-call does not ring it
        r = api.patch(f"/users/{p.member_id}", json={"forwarding_numbers": [JAMAICA]})
        assert r.status_code == 200, r.text
    try:
        with p.api(p.member) as api:
            r = api.post("/calls", json={"destination": DEST})
            body = _problem(r, 403, "destination-country-not-allowed")
            assert body["leg"] == "forwarding_number" and "your forwarding number" in body["detail"]
    finally:
        with p.api(p.owner) as api:
            api.patch(f"/users/{p.member_id}", json={"forwarding_numbers": [MEMBER_PHONE]}).raise_for_status()
    time.sleep(0.5)
    assert len(p.sim.events("incoming")) == dialled_before  # the provider saw no call
    assert p.active(p.owner) == []


def test_spend_cap_refuses_and_caps_the_duration_of_the_next_call(platform: Platform) -> None:
    p = platform
    with p.api(p.owner) as api:
        spent = float(api.get("/outbound-policy").json()["spent_this_month"])
        # nothing left
        assert api.put("/outbound-policy", json={"monthly_spend_cap": 0}).status_code == 200
        body = _problem(api.post("/calls", json={"destination": DEST}), 403, "spend-cap-reached")
        assert body["currency"] == "USD"
        # 0.0105 USD left, one call at once, both legs at 0.01/min (+1555): 31 seconds
        cap = f"{spent + 0.0105:.4f}"
        r = api.put("/outbound-policy", json={"monthly_spend_cap": cap, "max_concurrent_calls": 1})
        assert r.status_code == 200, r.text
        r = api.post("/calls", json={"destination": DEST_RINGING})
        assert r.status_code == 202, r.text
        assert r.json()["max_duration_s"] == 31, r.json()
        api.delete(f"/calls/active/{r.json()['call_id']}")
        assert api.put("/outbound-policy", json={}).status_code == 200
    _wait_gone(p, p.owner)


def test_concurrent_calls_over_the_limit_are_429_at_the_edge(platform: Platform) -> None:
    p = platform
    with p.api(p.owner) as api:
        assert api.put("/outbound-policy", json={"max_concurrent_calls": 1}).status_code == 200
        first = api.post("/calls", json={"destination": DEST_RINGING})
        assert first.status_code == 202, first.text
        second = api.post("/calls", json={"destination": DEST})
        body = _problem(second, 429, "too-many-concurrent-calls")
        assert int(second.headers["retry-after"]) >= 1 and "limit 1" in body["detail"]
        assert api.delete(f"/calls/active/{first.json()['call_id']}").status_code == 204
        assert api.put("/outbound-policy", json={}).status_code == 200
    _wait_gone(p, p.owner)
    refused = [
        e for e in edge_events(p.edge.log_path, "click_to_call_refused") if e["tenant_id"] == p.tenant_id
    ]
    assert refused and refused[-1]["reason"] == "too-many-concurrent-calls", refused


def test_the_edge_enforces_the_call_rate_and_the_longest_call(platform: Platform) -> None:
    p = platform
    url = f"http://127.0.0.1:{p.control_port}"
    with p.api(p.stranger) as api:  # a tenant that has started no call yet: its own pacing window
        other_tenant = api.get("/tenant").json()["id"]
        other_user = api.get("/users").json()["items"][0]["id"]
        api.patch(f"/users/{other_user}", json={"forwarding_numbers": [MEMBER_PHONE]}).raise_for_status()

    async def run() -> str:
        edge = HttpEdgeControl(url, TOKEN)
        try:
            # the longest call: ended by the edge 2 s after the user answered, bridged or not
            short = await edge.click_to_call(
                p.tenant_id, p.owner_id, DEST, limits=CallLimits(max_duration_s=2)
            )
            assert short.max_duration_s == 2
            # calls per minute: the tenant's second start within the minute is refused
            pace = CallLimits(calls_per_minute=1)
            deadline = time.monotonic() + 10
            while True:  # until the edge has the user's new phone
                try:
                    paced = await edge.click_to_call(other_tenant, other_user, DEST_RINGING, limits=pace)
                    break
                except CallRefused as exc:
                    if exc.status != 422 or time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            with pytest.raises(CallRefused) as refused:
                await edge.click_to_call(other_tenant, other_user, DEST_RINGING, limits=pace)
            assert refused.value.status == 429 and refused.value.reason == "call-rate-exceeded"
            assert refused.value.retry_after is not None and 1 <= refused.value.retry_after <= 60
            assert await edge.hang_up(other_tenant, paced.call_id)
            return short.call_id
        finally:
            await edge.aclose()

    short_id = asyncio.run(run())
    rec = p.record(short_id, timeout=30)
    assert rec.hangup_reason == "max_duration", rec
    user_leg = rec.legs[0]
    assert user_leg.answered_at is not None and user_leg.ended_at is not None
    assert 1.5 <= (user_leg.ended_at - user_leg.answered_at).total_seconds() <= 4.0, user_leg
    _wait_gone(p, p.owner)
    _wait_gone(p, p.stranger)


def test_suspended_and_ended_trial_tenants_place_no_calls(platform: Platform) -> None:
    p = platform
    tenant_id, owner = signup_verified(p.stack, "owner@c2c-c.example", company="Barred Co")
    with p.api(owner) as api:
        me = next(u for u in api.get("/users").json()["items"] if u["email"] == "owner@c2c-c.example")
        api.patch(f"/users/{me['id']}", json={"forwarding_numbers": [OWNER_PHONE]}).raise_for_status()
    dialled_before = len(p.sim.events("incoming"))
    _tenant_doc(p.stack, tenant_id, status="suspended", status_changed_at="2026-01-01T00:00:00Z")
    with p.api(owner) as api:
        body = _problem(api.post("/calls", json={"destination": DEST}), 403, "tenant-suspended")
        assert "suspended" in body["detail"]
    _tenant_doc(p.stack, tenant_id, status="trial", trial_ends_at="2026-01-01T00:00:00Z")
    with p.api(owner) as api:
        _problem(api.post("/calls", json={"destination": DEST}), 403, "trial-expired")

    # the edge refuses too (it is the authority for whoever reaches it), once it has the change
    async def ask_edge() -> CallRefused:
        edge = HttpEdgeControl(f"http://127.0.0.1:{p.control_port}", TOKEN)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    placed = await edge.click_to_call(tenant_id, me["id"], DEST)
                except CallRefused as exc:
                    if exc.status == 403 or time.monotonic() > deadline:
                        return exc
                    await asyncio.sleep(0.2)  # 404: the edge has not seen the user yet
                    continue
                await edge.hang_up(tenant_id, placed.call_id)
                raise AssertionError(f"the edge placed a call for a barred tenant: {placed}")
        finally:
            await edge.aclose()

    refused = asyncio.run(ask_edge())
    assert (refused.status, refused.reason) == (403, "trial-expired"), refused
    time.sleep(0.5)
    assert len(p.sim.events("incoming")) == dialled_before
