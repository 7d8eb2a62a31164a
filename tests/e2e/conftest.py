"""Fixtures for the portal's browser tests: the whole platform with the site (LocalStack(web=True)),
Debian's Chromium driven by Playwright's sync API, a fresh page per test, and helpers to sign up,
sign in and take screenshots.

The tests are plain sync functions (the repository does not use pytest-asyncio): Playwright's sync
API refuses to start inside a running asyncio loop, and none runs here. While Playwright runs, it
marks its own loop as the thread's running loop, so `asyncio.run()` fails in a test or in a fixture
set up after the browser: use `run_async(coro)` (a worker thread) there. The `playwright` fixture
clears that mark when it stops, so the next module's fixtures can call `asyncio.run()` again.

    def test_users_page(portal_stack, page):
        tenant_id, email = signup(portal_stack, "owner@acme.example")
        log_in(page, email)                         # through the login form; base_url = portal_stack.web_url
        go(page, "/users")                          # in-site navigation, returns once drawn
        ...
        shot(page, "users")                         # artifacts/screenshots/users.png

Helpers (import from tests.e2e.conftest):
- `signup(stack, email, password=PASSWORD, company=...) -> (tenant_id, email)`: sign up through the
  API and follow the emailed verification link (infra.local.stack.signup_verified).
- `api_login(stack, email, password=PASSWORD) -> dict`: POST /auth/login (the mobile JSON route);
  returns {"access_token", "refresh_token", "token_type", "expires_in"} for API calls from the test.
- `sign_in(page, stack, email, password=PASSWORD) -> str`: POST /auth/session and put the returned
  HttpOnly `pbx_refresh` cookie into the page's browser context, exactly as the site's own login
  would; the next page load restores the session silently (POST /auth/session/refresh). Returns the
  access token. For tests that need a session without going through the form.
- `log_in(page, email, password=PASSWORD, next_path="/")`: log in through the site's login form, as
  a person would, and wait until `next_path` is drawn.
- `go(page, path)`: in-site navigation (no reload), returning once the page is drawn.
- `watch_page_errors(page) -> list[str]`: collects uncaught script errors and CSP violations.
- `shot(page, name) -> Path`: a full-page screenshot at artifacts/screenshots/<name>.png (also a
  fixture named `shot` that returns this function).
- `run_async(coro)`: run a coroutine to completion in a worker thread (safe while Playwright runs).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, Page, Playwright, expect, sync_playwright

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, signup_verified

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "artifacts" / "screenshots"
PASSWORD = "correct horse battery"
VIEWPORT = {"width": 1280, "height": 800}

T = TypeVar("T")

# Assertions wait for the page this long (Playwright's default is 5 s): a page's work is a few
# API round trips, which a 2-core machine running the rest of the suite can stretch past 5 s.
expect.set_options(timeout=15_000)

_missing = [what for what, path in (("chromium", CHROMIUM), ("azurite", AZURITE_BIN)) if not path.exists()]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not _missing:
        return
    skip = pytest.mark.skip(reason=f"not installed: {', '.join(_missing)} (make test installs them)")
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def portal_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Azurite, ConfigDB, SMTP catcher, functions host and the static site, on free ports."""
    with LocalStack(Path(tmp_path_factory.mktemp("portal")), web=True) as stack:
        yield stack


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    p = sync_playwright().start()
    try:
        yield p
    finally:
        p.stop()
        # Playwright leaves its (now closed) loop set as the thread's running loop.
        asyncio.events._set_running_loop(None)


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium (Playwright cannot download its own here); autoplay allowed for <audio>."""
    b = playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=["--autoplay-policy=no-user-gesture-required"]
    )
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def page(browser: Browser, portal_stack: LocalStack) -> Iterator[Page]:
    """A new browser context per test (no cookies or storage shared), base_url = the site."""
    context = browser.new_context(viewport=VIEWPORT, base_url=portal_stack.web_url)  # type: ignore[arg-type]
    try:
        yield context.new_page()
    finally:
        context.close()


def signup(
    stack: LocalStack, email: str, password: str = PASSWORD, company: str = "Acme Plumbing"
) -> tuple[str, str]:
    """A verified tenant whose owner is `email`: (tenant id, email)."""
    tenant_id, _ = signup_verified(stack, email, password, company=company)
    return tenant_id, email


def api_login(stack: LocalStack, email: str, password: str = PASSWORD) -> dict[str, Any]:
    """Tokens for API calls from the test itself (POST /auth/login)."""
    with httpx.Client(base_url=stack.api, timeout=10) as api:
        r = api.post("/auth/login", json={"email": email, "password": password})
        r.raise_for_status()
        tokens: dict[str, Any] = r.json()
        return tokens


_COOKIE = re.compile(r"pbx_refresh=([^;]*)")


def sign_in(page: Page, stack: LocalStack, email: str, password: str = PASSWORD) -> str:
    """Give the page's browser the session cookie the site's login would get; returns the access token."""
    with httpx.Client(base_url=stack.api, timeout=10) as api:
        r = api.post(
            "/auth/session",
            json={"email": email, "password": password},
            headers={"Origin": stack.web_url},
        )
        r.raise_for_status()
    match = _COOKIE.search(r.headers["set-cookie"])
    if match is None or not match.group(1):
        raise AssertionError(f"no pbx_refresh cookie in {r.headers.get('set-cookie')!r}")
    page.context.add_cookies(
        [
            {
                "name": "pbx_refresh",
                "value": match.group(1),
                "domain": "127.0.0.1",
                "path": "/api/v1/auth/session",
                "httpOnly": True,
                "secure": False,
                "sameSite": "Strict",
            }
        ]
    )
    token: str = r.json()["access_token"]
    return token


def shot(page: Page, name: str) -> Path:
    """Save a full-page screenshot as artifacts/screenshots/<name>.png (a test artifact)."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
        raise ValueError(f"{name!r}: use letters, digits, '.', '_' and '-' only")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(coro)` in a worker thread: usable while the sync Playwright API is running."""
    result: list[T] = []
    error: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # re-raised in the caller's thread
            error.append(exc)

    worker = threading.Thread(target=target, name="run_async")
    worker.start()
    worker.join()
    if error:
        raise error[0]
    return result[0]


@pytest.fixture(name="shot")
def shot_fixture() -> Callable[[Page, str], Path]:
    """The `shot` helper as a fixture: `def test_x(page, shot): shot(page, "x")`."""
    return shot


def log_in(page: Page, email: str, password: str = PASSWORD, next_path: str = "/") -> None:
    """Log in through the site's login form, as a person would, and wait for `next_path` to be drawn."""
    page.goto(f"/login?next={quote(next_path, safe='')}" if next_path != "/" else "/login")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in", exact=True).click()
    page.wait_for_url(re.compile(re.escape(next_path.split("?")[0]) + r"(\?.*)?$"))
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.locator("main .loading")).to_have_count(0)
    expect(page.locator("main h1")).to_be_focused()


def go(page: Page, path: str) -> None:
    """In-site navigation (no reload), as a click on a nav link does; returns once the page is drawn
    (the router focuses its heading then)."""
    page.evaluate(
        "(p) => { const a = document.createElement('a'); a.href = p; a.dataset.link = '';"
        " document.body.append(a); a.click(); a.remove(); }",
        path,
    )
    page.wait_for_url(re.compile(re.escape(path.split("?")[0]) + r"(\?.*)?$"))
    expect(page.locator("main .loading")).to_have_count(0)
    expect(page.locator("main h1")).to_be_focused()


def watch_page_errors(page: Page) -> list[str]:
    """Collect uncaught script errors and Content-Security-Policy violations of `page`."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors
