"""What the web portal needs from the platform, through real processes (LocalStack(web=True)):
the static site's headers and history-API fallback, CORS for the site's origin only, the
browser session in an HttpOnly cookie, JSON media links for <audio>, and /dashboard."""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, signup_verified
from shared.adapters.history import open_history_store
from shared.history.models.call import ActivityItem, CallRecord
from tests.integration.test_prompts import tone_wav, wait_for_status

pytestmark = pytest.mark.skipif(
    not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"
)

PROBLEM = "application/problem+json"
PASSWORD = "correct horse battery"
FOREIGN_ORIGIN = "http://evil.example"


@dataclass
class Tenant:
    tenant_id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(Path(tmp_path_factory.mktemp("web")), web=True) as s:
        yield s


@pytest.fixture(scope="module")
def tenant_a(stack: LocalStack) -> Tenant:
    email = "owner@web-a.example"
    tid, token = signup_verified(stack, email, PASSWORD, company="Web A")
    return Tenant(tid, email, token)


@pytest.fixture(scope="module")
def tenant_b(stack: LocalStack) -> Tenant:
    email = "owner@web-b.example"
    tid, token = signup_verified(stack, email, PASSWORD, company="Web B")
    return Tenant(tid, email, token)


def api(stack: LocalStack) -> httpx.Client:
    return httpx.Client(base_url=stack.api, timeout=20)


def refresh_cookie(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """The pbx_refresh cookie's value and attributes (names lower-cased) from one Set-Cookie."""
    headers = response.headers.get_list("set-cookie")
    assert len(headers) == 1, headers
    raw = headers[0]
    value = raw.split(";", 1)[0].split("=", 1)
    assert value[0] == "pbx_refresh", raw
    attrs: dict[str, str] = {}
    for part in raw.split(";")[1:]:
        name, _, v = part.strip().partition("=")
        attrs[name.lower()] = v
    parsed = SimpleCookie()
    parsed.load(raw)  # well-formed for the stdlib parser too
    return value[1], attrs


# ---------------------------------------------------------------- static site


def test_site_headers_fallback_config_and_types(stack: LocalStack) -> None:
    with httpx.Client(base_url=stack.web_url, timeout=10) as site:
        root = site.get("/")
        deep = site.get("/users")
        verify = site.get("/verify", params={"token": "abc"})
        index = (Path(__file__).resolve().parents[2] / "web" / "index.html").read_bytes()
        for r in (root, deep, verify):
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/html")
            assert r.content == index
            csp = r.headers["content-security-policy"]
            directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
            assert directives["script-src"] == "'self'"  # no 'unsafe-inline'
            assert directives["default-src"] == "'self'"
            assert directives["object-src"] == "'none'"
            assert directives["frame-ancestors"] == "'none'"
            assert directives["connect-src"] == f"'self' http://127.0.0.1:{stack.api_port}"
            assert directives["media-src"] == f"'self' blob: http://127.0.0.1:{stack.azurite.blob_port}"
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["referrer-policy"] == "no-referrer"

        config = site.get("/config.json")
        assert config.status_code == 200 and config.headers["content-type"] == "application/json"
        assert config.json() == {"apiBase": stack.api}
        assert "content-security-policy" in config.headers

        favicon = site.get("/favicon.svg")
        assert favicon.status_code == 200 and favicon.headers["content-type"] == "image/svg+xml"
        web = Path(__file__).resolve().parents[2] / "web"
        for module in sorted(web.rglob("*.js"))[:3]:  # the shell's modules, once they exist
            rel = "/" + module.relative_to(web).as_posix()
            r = site.get(rel)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript"), rel
        missing = site.get("/js/no-such-module.js")
        assert missing.status_code == 404  # a file-like path never falls back to index.html
        assert "content-security-policy" in missing.headers
        escape = site.get("/%2e%2e/%2e%2e/etc/passwd")
        assert escape.status_code in (200, 404) and b"root:" not in escape.content


# ---------------------------------------------------------------- CORS


def test_cors_preflight_allows_the_site_origin_only(stack: LocalStack) -> None:
    preflight = {
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, content-type, if-match",
    }
    with api(stack) as client:
        ok = client.options("/users/x", headers={"Origin": stack.web_url, **preflight})
        assert ok.status_code == 200, ok.text
        assert ok.headers["access-control-allow-origin"] == stack.web_url
        assert ok.headers["access-control-allow-credentials"] == "true"
        assert "PATCH" in ok.headers["access-control-allow-methods"]
        allowed = ok.headers["access-control-allow-headers"].lower()
        assert {"authorization", "content-type", "if-match"} <= {h.strip() for h in allowed.split(",")}

        refused = client.options("/users/x", headers={"Origin": FOREIGN_ORIGIN, **preflight})
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers

        # Actual requests: the site's origin sees the exposed headers; another origin gets nothing.
        simple = client.get("/health", headers={"Origin": stack.web_url})
        assert simple.headers["access-control-allow-origin"] == stack.web_url
        assert "etag" in simple.headers["access-control-expose-headers"].lower()
        foreign = client.get("/health", headers={"Origin": FOREIGN_ORIGIN})
        assert "access-control-allow-origin" not in foreign.headers
        # Error answers carry CORS headers too (the browser can read the problem).
        unauth = client.get("/dashboard", headers={"Origin": stack.web_url})
        assert unauth.status_code == 401
        assert unauth.headers["access-control-allow-origin"] == stack.web_url


# ---------------------------------------------------------------- the browser session


def test_session_cookie_login_refresh_rotate_logout(stack: LocalStack, tenant_a: Tenant) -> None:
    origin = {"Origin": stack.web_url}
    with api(stack) as client:
        login = client.post(
            "/auth/session", json={"email": tenant_a.email, "password": PASSWORD}, headers=origin
        )
        assert login.status_code == 200, login.text
        body = login.json()
        assert set(body) == {"access_token", "token_type", "expires_in"}  # no refresh token in the body
        assert (
            body["token_type"] == "bearer" and body["expires_in"] == stack.settings.access_token_ttl_seconds
        )
        first, attrs = refresh_cookie(login)
        assert first and "httponly" in attrs and "secure" not in attrs
        assert attrs["samesite"] == "Strict" and attrs["path"] == "/api/v1/auth/session"
        assert attrs["max-age"] == str(stack.settings.refresh_token_ttl_seconds)
        assert client.get(
            "/dashboard", headers={"Authorization": f"Bearer {body['access_token']}"}
        ).is_success

        rotated = client.post("/auth/session/refresh", headers={**origin, "Cookie": f"pbx_refresh={first}"})
        assert rotated.status_code == 200, rotated.text
        second, _ = refresh_cookie(rotated)
        assert second != first and rotated.json()["access_token"]

        # Within the grace after a rotation (a second tab, a lost answer) the old value rotates once
        # more, into another cookie of the same family; past it, reuse is refused and revokes the
        # family (test_api_account_takeover.py steps the clock past the grace).
        twin = client.post("/auth/session/refresh", headers={**origin, "Cookie": f"pbx_refresh={first}"})
        assert twin.status_code == 200, twin.text
        third, _ = refresh_cookie(twin)
        assert third not in (first, second)

        # A fresh session, then logout revokes it server-side and clears the cookie.
        again = client.post("/auth/session", json={"email": tenant_a.email, "password": PASSWORD})
        token, _ = refresh_cookie(again)
        out = client.delete("/auth/session", headers={**origin, "Cookie": f"pbx_refresh={token}"})
        assert out.status_code == 204
        value, oattrs = refresh_cookie(out)
        assert value == "" and oattrs["max-age"] == "0" and oattrs["path"] == "/api/v1/auth/session"
        revoked = client.post("/auth/session/refresh", headers={"Cookie": f"pbx_refresh={token}"})
        assert revoked.status_code == 401 and revoked.headers["content-type"] == PROBLEM
        cleared, cattrs = refresh_cookie(revoked)
        assert cleared == "" and cattrs["max-age"] == "0"

        missing = client.post("/auth/session/refresh", headers=origin)
        assert missing.status_code == 401 and missing.headers["content-type"] == PROBLEM
        assert missing.json()["status"] == 401 and "log in" in missing.json()["detail"]
        garbage = client.post("/auth/session/refresh", headers={"Cookie": "pbx_refresh=%00%ff;;"})
        assert garbage.status_code == 401 and garbage.headers["content-type"] == PROBLEM
        assert client.delete("/auth/session").status_code == 204  # logout without a cookie is fine

        bad = client.post("/auth/session", json={"email": tenant_a.email, "password": "wrong password"})
        assert bad.status_code == 401 and bad.headers["content-type"] == PROBLEM
        assert "set-cookie" not in bad.headers
        invalid = client.post("/auth/session", json={"email": "not-an-email"})
        assert invalid.status_code == 422 and invalid.headers["content-type"] == PROBLEM

        # Another site cannot log in, rotate or log out through a browser (Origin checked).
        foreign = {"Origin": FOREIGN_ORIGIN}
        forged = client.post(
            "/auth/session", json={"email": tenant_a.email, "password": PASSWORD}, headers=foreign
        )
        assert forged.status_code == 403 and "set-cookie" not in forged.headers
        assert client.post("/auth/session/refresh", headers=foreign).status_code == 403


def test_session_cookie_travels_with_credentials_from_the_site_origin(
    stack: LocalStack, tenant_a: Tenant
) -> None:
    """An httpx cookie jar behaves like the browser: the cookie set by login is sent to the
    refresh path (inside its Path) but not to other API paths."""
    with api(stack) as client:
        login = client.post("/auth/session", json={"email": tenant_a.email, "password": PASSWORD})
        assert login.status_code == 200
        assert client.cookies.get("pbx_refresh")
        seen = client.post("/auth/session/refresh")
        assert seen.status_code == 200, seen.text
        request_to_other = client.build_request("GET", "/dashboard")
        assert "pbx_refresh" not in request_to_other.headers.get("cookie", "")
        assert client.delete("/auth/session").status_code == 204
        assert client.post("/auth/session/refresh").status_code == 401


# ---------------------------------------------------------------- media links


def test_prompt_audio_as_json_link_serves_range(
    stack: LocalStack, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with api(stack) as client:
        up = client.post(
            "/prompts",
            headers=tenant_a.auth,
            files={"file": ("greeting.wav", tone_wav(8000, 1, 1.0), "audio/wav")},
            data={"name": "Web greeting"},
        )
        assert up.status_code == 202, up.text
        pid = up.json()["id"]
        assert wait_for_status(client, tenant_a.auth, pid)["status"] == "ready"

        before = dt.datetime.now(dt.UTC)
        link = client.get(f"/prompts/{pid}/audio", headers={**tenant_a.auth, "Accept": "application/json"})
        assert link.status_code == 200, link.text
        assert link.headers["cache-control"] == "no-store"
        body = link.json()
        assert set(body) == {"url", "expires_at"}
        expires = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        assert body["expires_at"].endswith("Z")
        assert dt.timedelta(minutes=4) <= expires - before <= dt.timedelta(minutes=6)
        assert body["url"].startswith(f"http://127.0.0.1:{stack.azurite.blob_port}/")

        # Without Accept: application/json it is still the 302 to an equivalent URL.
        redirect = client.get(f"/prompts/{pid}/audio", headers=tenant_a.auth)
        assert (
            redirect.status_code == 302
            and redirect.headers["location"].split("?")[0] == body["url"].split("?")[0]
        )

        # The URL itself: no bearer token, Range works (what <audio> seeking does).
        with httpx.Client(timeout=10) as blob:
            ranged = blob.get(body["url"], headers={"Range": "bytes=100-199"})
            assert ranged.status_code == 206
            assert len(ranged.content) == 100
            assert ranged.headers["content-range"].startswith("bytes 100-199/")

        # Another tenant gets 404 as JSON too; no link leaks.
        other = client.get(f"/prompts/{pid}/audio", headers={**tenant_b.auth, "Accept": "application/json"})
        assert other.status_code == 404 and other.headers["content-type"] == PROBLEM


# ---------------------------------------------------------------- dashboard


def _call(tenant_id: str, user_id: str, started: dt.datetime, disposition: str) -> CallRecord:
    return CallRecord(
        call_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        number_called="+15557771000",
        caller="+15559870001",
        started_at=started,
        ended_at=started + dt.timedelta(seconds=30),
        disposition=disposition,  # type: ignore[arg-type]
        user_id=user_id,
    )


def test_dashboard_counts_today_and_isolates_tenants(
    stack: LocalStack, tenant_a: Tenant, tenant_b: Tenant
) -> None:
    with api(stack) as client:
        users = client.get("/users", headers=tenant_a.auth)
        assert users.status_code == 200
        owner = next(u["id"] for u in users.json()["items"] if u["email"] == tenant_a.email)

        empty = client.get("/dashboard", headers=tenant_a.auth)
        assert empty.status_code == 200, empty.text
        base = empty.json()

        now = dt.datetime.now(dt.UTC)
        today = max(now - dt.timedelta(seconds=90), now.replace(hour=0, minute=0, second=0, microsecond=0))
        calls = [
            _call(tenant_a.tenant_id, owner, today, "answered"),
            _call(tenant_a.tenant_id, owner, today, "missed"),
            _call(tenant_a.tenant_id, owner, today, "voicemail"),
            _call(tenant_a.tenant_id, owner, now - dt.timedelta(days=2), "missed"),  # not today
        ]
        items = [
            ActivityItem(
                id=f"voicemail:{calls[2].call_id}",
                tenant_id=tenant_a.tenant_id,
                user_id=owner,
                kind="voicemail",
                call_id=calls[2].call_id,
                created_at=today,
            ),
            ActivityItem(
                id=f"missed:{calls[1].call_id}",
                tenant_id=tenant_a.tenant_id,
                user_id=owner,
                kind="missed_call",
                call_id=calls[1].call_id,
                created_at=today,
            ),
        ]
        store = open_history_store(stack.settings)
        try:
            for c in calls:
                store.put_call(c)
            for a in items:
                store.add_activity(a)
        finally:
            store.close()

        r = client.get("/dashboard", headers=tenant_a.auth)
        assert r.status_code == 200, r.text
        got = r.json()
        assert set(got) == {"today", "unheard_voicemails", "unread_activities", "trial"}
        assert got["today"] == {
            "calls": base["today"]["calls"] + 3,
            "missed": base["today"]["missed"] + 1,
            "voicemails": base["today"]["voicemails"] + 1,
        }
        assert got["unheard_voicemails"] == base["unheard_voicemails"] + 1
        assert got["unread_activities"] == base["unread_activities"] + 2
        trial = got["trial"]
        assert trial["status"] == "trial" and trial["ends_at"].endswith("Z")
        ends = dt.datetime.fromisoformat(trial["ends_at"].replace("Z", "+00:00"))
        assert trial["days_left"] == math.ceil((ends - dt.datetime.now(dt.UTC)).total_seconds() / 86400)
        assert trial["days_left"] > 0

        # Marking the voicemail heard takes it off the unheard count.
        heard = client.patch(f"/voicemails/{items[0].id}", json={"heard": True}, headers=tenant_a.auth)
        assert heard.status_code == 200, heard.text
        after = client.get("/dashboard", headers=tenant_a.auth).json()
        assert after["unheard_voicemails"] == got["unheard_voicemails"] - 1
        assert after["unread_activities"] == got["unread_activities"] - 1

        # The other tenant sees its own (empty) day.
        other = client.get("/dashboard", headers=tenant_b.auth)
        assert other.status_code == 200
        assert other.json()["today"] == {"calls": 0, "missed": 0, "voicemails": 0}
        assert other.json()["unheard_voicemails"] == 0 and other.json()["unread_activities"] == 0

        assert client.get("/dashboard").status_code == 401
        bad = client.get("/dashboard", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401 and bad.headers["content-type"] == PROBLEM
