"""The refresh cookie is Secure wherever the site is served over https: derived from
PUBLIC_BASE_URL and the API URL, forced by REFRESH_COOKIE_SECURE=true, never false on an https
site, and set on any request that arrived over https (the scheme the server reports)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from pydantic import ValidationError

from functions.http_api.app import create_app
from shared.settings import Settings


class IsolatedSettings(Settings):
    local_settings_file = None


def test_secure_follows_the_sites_scheme() -> None:
    assert IsolatedSettings().refresh_cookie_is_secure is False
    assert IsolatedSettings(public_base_url="https://app.pbx.example").refresh_cookie_is_secure is True
    api_https = IsolatedSettings(region_base_urls={"local": "https://api.pbx.example/api"})
    assert api_https.refresh_cookie_is_secure is True
    assert IsolatedSettings(refresh_cookie_secure=True).refresh_cookie_is_secure is True
    assert IsolatedSettings(refresh_cookie_secure=False).refresh_cookie_is_secure is False


def test_secure_false_on_an_https_site_is_refused() -> None:
    with pytest.raises(
        ValidationError, match="REFRESH_COOKIE_SECURE is false but the site is served over https"
    ):
        IsolatedSettings(public_base_url="https://app.pbx.example", refresh_cookie_secure=False)


def test_as_env_leaves_the_derivation_to_the_child() -> None:
    assert "REFRESH_COOKIE_SECURE" not in IsolatedSettings().as_env()
    assert IsolatedSettings(refresh_cookie_secure=True).as_env()["REFRESH_COOKIE_SECURE"] == "true"


def cleared_cookie(settings: Settings, base_url: str) -> str:
    """The Set-Cookie of a refresh without a cookie (401, which clears the cookie)."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
            return await client.post("/api/v1/auth/session/refresh")

    r = asyncio.run(call())
    assert r.status_code == 401, r.text
    return r.headers["set-cookie"]


@pytest.mark.parametrize(
    ("public_base_url", "request_base", "secure"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:7071", False),  # the local stack
        ("https://app.pbx.example", "http://10.0.0.4:7071", True),  # https site behind a TLS proxy
        ("http://127.0.0.1:8080", "https://api.pbx.example", True),  # the request came over https
    ],
)
def test_the_cookie_carries_secure_on_https(public_base_url: str, request_base: str, secure: bool) -> None:
    cookie = cleared_cookie(IsolatedSettings(public_base_url=public_base_url), request_base)
    assert cookie.startswith("pbx_refresh=;")
    assert ("; Secure" in cookie) is secure, cookie
