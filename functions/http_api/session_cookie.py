"""The browser session's refresh cookie (pure): its name, and the Set-Cookie values that set and
clear it.

The web portal keeps the access token in memory only; the refresh token lives in this cookie:
HttpOnly (script, and so an injected script, cannot read it), SameSite=Strict (never sent on a
cross-site request), and scoped to the session routes (Path), so no other API request carries it.
Secure is set on an https site (`Settings.refresh_cookie_is_secure`: REFRESH_COOKIE_SECURE, else
whether PUBLIC_BASE_URL or the API URL is https) and on every request that arrived over https.
"""

from __future__ import annotations

import re

COOKIE_NAME = "pbx_refresh"
COOKIE_PATH = "/api/v1/auth/session"
_TOKEN = re.compile(r"^[A-Za-z0-9_\-.~]{1,512}$")


def set_cookie(token: str, max_age: int, *, secure: bool) -> str:
    """The Set-Cookie value carrying `token` (a URL-safe refresh token)."""
    if not _TOKEN.match(token):
        raise ValueError("a refresh token must be URL-safe to travel in a cookie")
    return _cookie(token, max_age, secure)


def clear_cookie(*, secure: bool) -> str:
    """The Set-Cookie value that removes the cookie."""
    return _cookie("", 0, secure)


def read_cookie(value: str | None) -> str | None:
    """The cookie's token if it looks like one (anything else counts as absent)."""
    if value is None or not _TOKEN.match(value):
        return None
    return value


def _cookie(value: str, max_age: int, secure: bool) -> str:
    attrs = [
        f"{COOKIE_NAME}={value}",
        "HttpOnly",
        "SameSite=Strict",
        f"Path={COOKIE_PATH}",
        f"Max-Age={max_age}",
    ]
    if secure:
        attrs.append("Secure")
    return "; ".join(attrs)
