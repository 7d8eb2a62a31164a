"""The pure pieces behind the web portal: media-link negotiation, the session cookie, the
dashboard's day and trial arithmetic, and the static site's path resolution."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from functions.http_api.media_link import expiry_of, wants_json
from functions.http_api.session_cookie import clear_cookie, read_cookie, set_cookie
from infra.local.static_site import content_security_policy, origin_of, resolve
from shared.directory.models.tenant import Tenant, TenantStatus
from shared.history.services.dashboard import local_day, trial_of

NOW = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", True),
        ("text/html, application/json;q=0.9", True),
        ("Application/JSON", True),
        ("application/json;q=0", False),
        ("application/json;q=bad", False),
        ("*/*", False),
        ("audio/*", False),
        (None, False),
        ("", False),
    ],
)
def test_wants_json(accept: str | None, expected: bool) -> None:
    assert wants_json(accept) is expected


def test_expiry_from_the_sas_or_default() -> None:
    url = "http://127.0.0.1:10000/devstoreaccount1/prompts/a.wav?se=2026-03-29T00%3A35%3A00Z&sp=r&sig=x"
    assert expiry_of(url, NOW) == dt.datetime(2026, 3, 29, 0, 35, tzinfo=dt.UTC)
    assert expiry_of("http://x/y?sig=1", NOW) == NOW + dt.timedelta(minutes=5)
    assert expiry_of("http://x/y?se=garbage", NOW) == NOW + dt.timedelta(minutes=5)


def test_session_cookie_values() -> None:
    assert set_cookie("abc-_1", 60, secure=False) == (
        "pbx_refresh=abc-_1; HttpOnly; SameSite=Strict; Path=/api/v1/auth/session; Max-Age=60"
    )
    assert set_cookie("abc", 60, secure=True).endswith("; Secure")
    assert clear_cookie(secure=False).startswith("pbx_refresh=; ") and "Max-Age=0" in clear_cookie(
        secure=False
    )
    with pytest.raises(ValueError):
        set_cookie("a;b", 60, secure=False)
    assert read_cookie("abc") == "abc"
    assert read_cookie(None) is None and read_cookie("") is None and read_cookie("a b") is None


def test_local_day_follows_the_time_zone_and_dst() -> None:
    # 2026-03-29 00:30 UTC is 01:30 in London, the day the clocks go forward (a 23-hour day).
    start, end = local_day(NOW, "Europe/London")
    assert start == dt.datetime(2026, 3, 29, 0, 0, tzinfo=dt.UTC)
    assert end - start == dt.timedelta(hours=23)
    start, end = local_day(NOW, "America/New_York")  # still the 28th there
    assert start == dt.datetime(2026, 3, 28, 4, 0, tzinfo=dt.UTC) and end - start == dt.timedelta(hours=24)
    assert local_day(NOW, "UTC") == (
        dt.datetime(2026, 3, 29, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 30, tzinfo=dt.UTC),
    )


def _tenant(status: TenantStatus, ends: dt.datetime | None) -> Tenant:
    return Tenant.model_validate(
        {
            "id": "01J0000000000000000000000T",
            "name": "Acme",
            "region": "local",
            "status": status,
            "trial_ends_at": ends,
            "created_at": NOW - dt.timedelta(days=1),
        }
    )


def test_trial_days_left() -> None:
    assert trial_of(_tenant(TenantStatus.TRIAL, NOW + dt.timedelta(days=13, hours=1)), NOW).days_left == 14
    assert trial_of(_tenant(TenantStatus.TRIAL, NOW + dt.timedelta(days=14)), NOW).days_left == 14
    assert trial_of(_tenant(TenantStatus.TRIAL, NOW - dt.timedelta(hours=1)), NOW).days_left == 0
    active = trial_of(_tenant(TenantStatus.ACTIVE, None), NOW)
    assert active.days_left is None and active.ends_at is None and active.status is TenantStatus.ACTIVE


def test_static_resolve_stays_under_root(tmp_path: Path) -> None:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "app.js").write_text("x")
    (tmp_path / "index.html").write_text("<!doctype html>")
    root = tmp_path.resolve()
    assert resolve(root, "/js/app.js") == root / "js" / "app.js"
    assert resolve(root, "/js") is None  # a directory
    assert resolve(root, "/") is None
    assert resolve(root, "/../etc/passwd") is None
    assert resolve(root, "/js/../index.html") is None  # dot segments are refused outright
    assert resolve(root, "/nope.js") is None


def test_csp_and_origins() -> None:
    assert origin_of("http://127.0.0.1:7071/api/v1") == "http://127.0.0.1:7071"
    with pytest.raises(ValueError):
        origin_of("ftp://x")
    csp = content_security_policy("https://api.example", "https://media.example")
    assert "connect-src 'self' https://api.example" in csp
    assert "media-src 'self' blob: https://media.example" in csp
    assert "unsafe" not in csp
