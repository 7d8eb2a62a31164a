"""The portal opens in a real Chromium with its Content-Security-Policy, and nothing the site
itself does violates it. A deliberately inline script proves the policy is enforced and that a
violation would be seen by this test."""

from __future__ import annotations

from playwright.sync_api import ConsoleMessage, Page

from infra.local.stack import LocalStack

from .conftest import shot


def _csp_violations(messages: list[ConsoleMessage]) -> list[str]:
    return [m.text for m in messages if "Content Security Policy" in m.text]


def test_portal_opens_with_csp_and_no_violation(portal_stack: LocalStack, page: Page) -> None:
    messages: list[ConsoleMessage] = []
    page.on("console", lambda m: messages.append(m))
    violations: list[str] = []
    page.expose_function("reportViolation", lambda v: violations.append(v))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation',"
        " e => window.reportViolation(e.violatedDirective + ' ' + e.blockedURI));"
    )

    response = page.goto("/")
    assert response is not None and response.status == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    page.wait_for_load_state("networkidle")
    assert page.locator("main#main").count() == 1  # the shell's landmark (web/index.html)
    shot(page, "smoke-home")
    assert _csp_violations(messages) == [] and violations == [], (messages, violations)

    # A deep path loads the same shell (history-API fallback), under the same policy.
    deep = page.goto("/users")
    assert deep is not None and deep.status == 200
    assert deep.headers["content-security-policy"] == csp
    page.wait_for_load_state("networkidle")
    assert page.locator("main#main").count() == 1
    assert _csp_violations(messages) == [] and violations == [], (messages, violations)

    # Control: an inline script is refused, and the refusal is visible to this test.
    ran = page.evaluate(
        """() => { const s = document.createElement('script');
                   s.textContent = 'window.__inlineRan = true';
                   document.head.append(s);
                   return window.__inlineRan === true; }"""
    )
    assert ran is False
    page.wait_for_timeout(300)
    assert _csp_violations(messages) or violations, "the inline script was blocked without any report"
