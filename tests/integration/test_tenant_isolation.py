"""Tenant isolation on every operation of the live `/api/openapi.json`.

Tenant A has one of everything (a member, a number, a menu, a prompt, a device, calls with a
recording, voicemails, activities). Then, for every operation the API documents:

- with tenant B's owner token, on tenant A's real ids (path parameters, and the `user_id` and
  `number` query parameters): 404 or 403 on every operation that names an id; an operation
  without ids may succeed (it acts on B) but its answer holds none of A's ids, numbers or
  addresses, and nothing of A changes;
- with A's member's token, on A's ids of things that are not the member's: every operation
  outside `MEMBER_OPERATIONS` answers 403 or 404.

The operations checked must equal the operations in openapi.json (minus `PUBLIC`), so a route
added later is checked without anyone touching this file; a new operation that takes a body
needs a valid one in `BODIES` (else it fails here saying so), and one a member may use must be
added to `MEMBER_OPERATIONS` on purpose.

PUBLIC: the operations anyone may call without a token (sign-up, verification and its resend,
login, refresh, logout, password reset, the cookie session, health and the probes, regions) and the emailed
report links, whose unguessable token in the path is the credential.

EDGE_OPERATIONS: click-to-call, live calls and a caller ID's code call are answered by the SIP
edge's control API, which this stack does not run: there an isolated answer is 403/404 or 503
(the edge is unreachable); tests/integration/test_click_to_call.py checks click-to-call against a
real edge.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack
from tests.integration.notify_helpers import tone_wav
from tests.integration.test_api_history import (
    DAY,
    Account,
    edge_voicemail,
    owner_account,
    record,
    upload,
    write,
)

pytestmark = pytest.mark.skipif(
    not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"
)

PUBLIC = {
    ("GET", "/api/v1/health"),
    ("GET", "/healthz"),  # probes: liveness, and readiness naming dependencies, no tenant data
    ("GET", "/readyz"),
    ("GET", "/api/v1/regions"),
    ("POST", "/api/v1/signup"),
    ("POST", "/api/v1/signup/verify"),
    ("POST", "/api/v1/signup/verify/resend"),
    ("POST", "/api/v1/signup/verify/resend"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("POST", "/api/v1/auth/session"),
    ("DELETE", "/api/v1/auth/session"),
    ("POST", "/api/v1/auth/session/refresh"),
    # a report's emailed link: no bearer token, the unguessable token in the path is the capability
    ("GET", "/api/v1/report-links/{tenant_id}/{token}/{file}"),
}

EDGE_OPERATIONS = {
    ("POST", "/api/v1/calls"),
    ("GET", "/api/v1/calls/active"),
    ("DELETE", "/api/v1/calls/active/{call_id}"),
    ("POST", "/api/v1/caller-ids"),  # the edge calls the number to read out the code
}

# What a member may do (on their own things); everything else is for owners and admins.
MEMBER_OPERATIONS = {
    ("GET", "/api/v1/tenant"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/{user_id}"),
    ("PATCH", "/api/v1/users/{user_id}"),
    ("POST", "/api/v1/users/{user_id}/password-reset"),
    ("GET", "/api/v1/devices"),
    ("POST", "/api/v1/devices"),
    ("DELETE", "/api/v1/devices/{device_id}"),
    ("GET", "/api/v1/numbers"),
    ("GET", "/api/v1/numbers/available"),  # the operator's free inventory: no tenant's data
    ("GET", "/api/v1/numbers/{e164}"),
    ("GET", "/api/v1/ivr-menus"),
    ("GET", "/api/v1/ivr-menus/{menu_id}"),
    ("GET", "/api/v1/prompts"),
    ("GET", "/api/v1/prompts/{prompt_id}"),
    ("GET", "/api/v1/prompts/{prompt_id}/audio"),
    ("GET", "/api/v1/calls"),
    ("GET", "/api/v1/calls/{call_id}"),
    ("GET", "/api/v1/calls/{call_id}/recording"),
    ("GET", "/api/v1/voicemails"),
    ("PATCH", "/api/v1/voicemails/{voicemail_id}"),
    ("DELETE", "/api/v1/voicemails/{voicemail_id}"),
    ("GET", "/api/v1/voicemails/{voicemail_id}/audio"),
    ("GET", "/api/v1/activities"),
    ("POST", "/api/v1/activities/read-all"),
    ("PATCH", "/api/v1/activities/{activity_id}"),
    ("GET", "/api/v1/stats"),
    ("GET", "/api/v1/outbound-policy"),
    ("GET", "/api/v1/dashboard"),
    ("GET", "/api/v1/caller-ids"),
    ("GET", "/api/v1/caller-ids/{caller_id}"),
    ("POST", "/api/v1/calls"),
    ("GET", "/api/v1/calls/active"),
    ("DELETE", "/api/v1/calls/active/{call_id}"),
}

# Valid bodies, so that a refusal is about who asks and not about what was sent.
BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/v1/tenant"): {"name": "Renamed"},
    ("POST", "/api/v1/users"): {"name": "New Person", "email": "new.person@isolation.example"},
    ("PATCH", "/api/v1/users/{user_id}"): {"name": "Renamed Person"},
    ("POST", "/api/v1/devices"): {"platform": "fcm", "token": "b" * 64},
    ("POST", "/api/v1/numbers"): "A_NUMBER",
    ("PATCH", "/api/v1/numbers/{e164}"): {"label": "taken"},
    ("POST", "/api/v1/ivr-menus"): {"name": "Menu", "greeting": {"text": "Hello"}},
    ("PATCH", "/api/v1/ivr-menus/{menu_id}"): {"name": "Renamed menu"},
    ("POST", "/api/v1/prompts"): "PROMPT_UPLOAD",
    ("POST", "/api/v1/calls"): {"destination": "+15557771234"},
    ("PATCH", "/api/v1/voicemails/{voicemail_id}"): {"heard": True},
    ("PATCH", "/api/v1/activities/{activity_id}"): {"read": True},
    ("PUT", "/api/v1/outbound-policy"): {"allowed_countries": ["US"]},
    ("POST", "/api/v1/users/{user_id}/password-reset"): None,
    ("POST", "/api/v1/activities/read-all"): None,
    ("POST", "/api/v1/caller-ids"): {"number": "+15557771234"},
    ("POST", "/api/v1/caller-ids/{caller_id}/verify"): {"code": "123456"},
}
ID_QUERY = {"user_id", "number"}


@dataclass
class World:
    stack: LocalStack
    a: Account
    b: Account
    member: Account
    ids: dict[str, str]  # path/query parameter name -> one of A's values (B's view)
    member_ids: dict[str, str]  # the same for the member: A's things that are not theirs
    secrets: set[str] = field(default_factory=set)  # strings of A that must never reach B


def silence_wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    return out.getvalue()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(Path(tmp_path_factory.mktemp("isolation"))) as s:
        yield s


@pytest.fixture(scope="module")
def world(stack: LocalStack) -> World:
    a = owner_account(stack, "owner@isolation-a.example", "Isolation A")
    b = owner_account(stack, "owner@isolation-b.example", "Isolation B")
    with httpx.Client(base_url=stack.api, timeout=20, headers=a.auth) as api:
        body = {"name": "Mia Member", "email": "mia@isolation-a.example", "password": "member pass 1"}
        r = api.post("/users", json=body)
        assert r.status_code == 201, r.text
        member_id = r.json()["id"]
        login = httpx.post(
            f"{stack.api}/auth/login", json={"email": body["email"], "password": body["password"]}
        )
        assert login.status_code == 200, login.text
        member = Account(a.tenant_id, member_id, login.json()["access_token"])

        number = api.get("/numbers/available", params={"limit": 1}).json()["items"][0]
        number = number["number"] if isinstance(number, dict) else number
        r = api.post("/numbers", json={"number": number, "entry": {"type": "user", "id": a.user_id}})
        assert r.status_code == 201, r.text
        r = api.post("/ivr-menus", json={"name": "Main", "greeting": {"text": "Welcome"}})
        assert r.status_code == 201, r.text
        menu_id = r.json()["id"]
        r = api.post(
            "/prompts", files={"file": ("hello.wav", silence_wav(), "audio/wav")}, data={"name": "Hi"}
        )
        assert r.status_code == 202, r.text
        prompt_id = r.json()["id"]
        r = api.post("/devices", json={"platform": "apns", "token": "a" * 64})
        assert r.status_code == 201, r.text
        device_id = r.json()["id"]
        caller_id = _caller_id(api) if ("GET", "/api/v1/caller-ids") in operations(stack) else None

    t, o = a.tenant_id, a.user_id
    call = record(t, o, started=DAY, disposition="answered", number=number)
    call = call.model_copy(update={"recording_blob": f"recordings/{t}/{call.call_id}.wav"})
    wav = tone_wav(1.0)
    upload(stack, "recordings", f"{t}/{call.call_id}.wav", wav)
    write(stack, [call], [])
    voicemail = edge_voicemail(stack, t, o, DAY.replace(hour=10), wav)

    ids = {
        "user_id": o,
        "device_id": device_id,
        "e164": number,
        "number": number,
        "menu_id": menu_id,
        "prompt_id": prompt_id,
        "call_id": call.call_id,
        "voicemail_id": f"voicemail:{voicemail.call_id}",
        "activity_id": f"voicemail:{voicemail.call_id}",
    }
    if caller_id is not None:
        ids["caller_id"] = caller_id
    secrets = {t, o, member_id, number, menu_id, prompt_id, device_id, call.call_id, voicemail.call_id}
    secrets |= {"owner@isolation-a.example", "mia@isolation-a.example"}
    return World(stack, a, b, member, ids, dict(ids), secrets)


def _caller_id(api: httpx.Client) -> str:
    """A's caller ID: the record is stored before the edge is asked to call out the code, so it
    exists even though this stack runs no edge (the start itself then answers 503)."""
    api.post("/caller-ids", json={"number": "+15557779876"})
    listed = api.get("/caller-ids")
    items = listed.json().get("items", []) if listed.status_code == 200 else []
    assert items, f"could not give tenant A a caller ID: {listed.status_code} {listed.text[:200]}"
    return str(items[0]["id"])


def operations(stack: LocalStack) -> set[tuple[str, str]]:
    doc = httpx.get(stack.api.removesuffix("/v1") + "/openapi.json", timeout=20).json()
    return {
        (m.upper(), p)
        for p, ops in doc["paths"].items()
        for m in ops
        if m in {"get", "post", "put", "patch", "delete"}
    }


def fill(path: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no id of tenant A for a path parameter of {path}: add it to the fixture"
    return path


def call(api: httpx.Client, method: str, path: str, ids: dict[str, str], etag: str | None) -> httpx.Response:
    op = (method, path)
    url = fill(path, ids).removeprefix("/api/v1")
    params = (
        {k: ids[k] for k in ID_QUERY if k in ids} if method in {"GET", "DELETE"} and "{" not in path else {}
    )
    if op == ("DELETE", "/api/v1/numbers"):
        params = {"number": ids["number"]}
    headers = {"If-Match": etag} if etag else {}
    body = BODIES.get(op, {} if method in {"POST", "PUT", "PATCH"} else None)
    if body == "A_NUMBER":
        return api.post(url, json={"number": ids["number"]}, headers=headers)
    if body == "PROMPT_UPLOAD":
        return api.post(url, files={"file": ("x.wav", silence_wav(), "audio/wav")}, data={"name": "x"})
    if method in {"GET", "DELETE"}:
        return api.request(method, url, params=params, headers=headers)
    return api.request(method, url, json=body, headers=headers)


def etag_of(owner: httpx.Client, method: str, path: str, ids: dict[str, str]) -> str | None:
    """The resource's current ETag as A reads it: the intruder knows everything but the token."""
    if method not in {"PATCH", "PUT", "DELETE"}:
        return None
    try:
        r = owner.get(fill(path, ids).removeprefix("/api/v1"))
    except AssertionError:
        return None
    return r.headers.get("ETag") if r.status_code == 200 else None


def leaks(text: str, secrets: set[str]) -> set[str]:
    return {s for s in secrets if s in text}


def test_openapi_operations_are_all_classified(world: World) -> None:
    ops = operations(world.stack)
    checked = ops - PUBLIC
    assert ops >= PUBLIC, f"public operations that no longer exist: {PUBLIC - ops}"
    assert checked >= MEMBER_OPERATIONS, (
        f"member operations not in openapi.json: {MEMBER_OPERATIONS - checked}"
    )
    assert checked >= EDGE_OPERATIONS
    missing_bodies = {op for op in checked if op[0] in {"POST", "PUT", "PATCH"} and op not in BODIES}
    assert not missing_bodies, f"give these operations a valid body in BODIES: {sorted(missing_bodies)}"


def test_tenant_b_cannot_reach_tenant_a(world: World) -> None:
    ops = sorted(operations(world.stack) - PUBLIC)
    failures: list[str] = []
    covered: set[tuple[str, str]] = set()
    with (
        httpx.Client(base_url=world.stack.api, timeout=20, headers=world.b.auth) as intruder,
        httpx.Client(base_url=world.stack.api, timeout=20, headers=world.a.auth) as owner,
    ):
        for method, path in ops:
            etag = etag_of(owner, method, path, world.ids)
            r = call(intruder, method, path, world.ids, etag)
            covered.add((method, path))
            allowed = {403, 404} | ({503} if (method, path) in EDGE_OPERATIONS else set())
            names_an_id = "{" in path or (method, path) == ("DELETE", "/api/v1/numbers")
            if names_an_id and r.status_code not in allowed:
                failures.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
            elif not names_an_id and r.status_code < 400 and leaks(r.text, world.secrets):
                failures.append(f"{method} {path}: answered A's {sorted(leaks(r.text, world.secrets))}")
            elif not names_an_id and r.status_code >= 500 and (method, path) not in EDGE_OPERATIONS:
                failures.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
        # A's things are all still there, unchanged by B's attempts.
        for name, path in [
            ("user", f"/users/{world.a.user_id}"),
            ("number", f"/numbers/{world.ids['e164']}"),
            ("menu", f"/ivr-menus/{world.ids['menu_id']}"),
            ("prompt", f"/prompts/{world.ids['prompt_id']}"),
            ("call", f"/calls/{world.ids['call_id']}"),
        ]:
            got = owner.get(path)
            if got.status_code != 200 or "Renamed" in got.text or "taken" in got.text:
                failures.append(f"A's {name} changed: {got.status_code} {got.text[:200]}")
    assert covered == set(operations(world.stack)) - PUBLIC
    assert not failures, "tenant B reached tenant A:\n" + "\n".join(failures)


def test_member_cannot_use_admin_operations(world: World) -> None:
    ops = sorted(operations(world.stack) - PUBLIC - MEMBER_OPERATIONS)
    assert ops, "no admin operations at all?"
    failures: list[str] = []
    with (
        httpx.Client(base_url=world.stack.api, timeout=20, headers=world.member.auth) as member,
        httpx.Client(base_url=world.stack.api, timeout=20, headers=world.a.auth) as owner,
    ):
        for method, path in ops:
            etag = etag_of(owner, method, path, world.member_ids)
            r = call(member, method, path, world.member_ids, etag)
            if r.status_code not in {403, 404}:
                failures.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
    assert not failures, "a member used admin operations:\n" + "\n".join(failures)


def test_member_cannot_reach_other_users_things(world: World) -> None:
    """Member operations that name a user's thing, on the owner's: 403 or 404."""
    personal = [
        ("PATCH", "/api/v1/users/{user_id}"),
        ("POST", "/api/v1/users/{user_id}/password-reset"),
        ("PATCH", "/api/v1/voicemails/{voicemail_id}"),
        ("GET", "/api/v1/voicemails/{voicemail_id}/audio"),
        ("PATCH", "/api/v1/activities/{activity_id}"),
        ("GET", "/api/v1/calls/{call_id}"),
        ("GET", "/api/v1/calls/{call_id}/recording"),
        ("DELETE", "/api/v1/voicemails/{voicemail_id}"),
    ]
    failures: list[str] = []
    with (
        httpx.Client(base_url=world.stack.api, timeout=20, headers=world.member.auth) as member,
        httpx.Client(base_url=world.stack.api, timeout=20, headers=world.a.auth) as owner,
    ):
        for method, path in personal:
            etag = etag_of(owner, method, path, world.member_ids)
            r = call(member, method, path, world.member_ids, etag)
            if r.status_code not in {403, 404}:
                failures.append(f"{method} {path}: {r.status_code} {r.text[:200]}")
    assert not failures, "a member reached another user's things:\n" + "\n".join(failures)
