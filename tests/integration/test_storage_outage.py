"""A storage outage (Azurite stopped) against the whole local stack.

- Sign-up and password reset commit their email to the ConfigDB outbox in the same transaction
  (shared/outbox.py): with the bus down they still answer at once, and the emails arrive through
  the `outbox_relay` timer once Azurite is back.
- `/readyz` answers 503 naming Blob storage (and only it) within 5 s, `/healthz` still 200.
- The API's Blob and queue clients are bounded (functions/wiring.py): a media route answers 503
  problem+json with Retry-After within 5 s, and the bus raises `Unavailable` within 5 s, instead of
  the SDK's default retries holding the request for over a minute.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
import pytest

from functions.wiring import Adapters
from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, mail_text, signup_verified, wait_for_mail
from shared.errors import Unavailable
from tests.waiting import eventually

pytestmark = pytest.mark.skipif(
    not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"
)

BOUND_S = 5.0
RELAY_INTERVAL_S = 10.0  # functions/notifications.py OUTBOX_RELAY_SCHEDULE


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(Path(tmp_path_factory.mktemp("stack"))) as s:
        yield s


def mail_to(mail_dir: Path, to: str) -> list[Message]:
    found = [message_from_bytes(p.read_bytes()) for p in sorted(mail_dir.glob("*.eml"))]
    return [m for m in found if m["To"] == to]


def silence_wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 8000)
    return out.getvalue()


def test_outage_delays_mail_and_answers_503_quickly(stack: LocalStack) -> None:
    owner = "owner@outage-a.example"
    _, token = signup_verified(stack, owner, company="Outage A")
    auth = {"Authorization": f"Bearer {token}"}
    newcomer = "owner@outage-b.example"

    root = stack.api.removesuffix("/api/v1")
    ready = httpx.get(f"{root}/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    assert {c["status"] for c in ready.json()["checks"].values()} == {"ok"}

    stack.azurite.stop()
    try:
        started = time.monotonic()
        r = httpx.get(f"{root}/readyz", timeout=10)  # no token: a probe carries none
        took = time.monotonic() - started
        assert r.status_code == 503, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["failed"] == ["blob"], r.text  # the ConfigDB and the History DB still answer
        assert took < BOUND_S, f"readyz took {took:.1f}s with storage down"
        assert httpx.get(f"{root}/healthz", timeout=5).json() == {"status": "ok"}
        with httpx.Client(base_url=stack.api, timeout=120) as api:
            started = time.monotonic()
            r = api.post(
                "/signup",
                json={
                    "company": "Outage B",
                    "name": "Owner",
                    "email": newcomer,
                    "password": "correct horse battery",
                    "region": stack.settings.region,
                },
            )
            took = time.monotonic() - started
            assert r.status_code == 201, r.text
            assert took < BOUND_S, f"sign-up took {took:.1f}s with the bus down"

            started = time.monotonic()
            r = api.post("/auth/password-reset", json={"email": owner})
            took = time.monotonic() - started
            assert r.is_success, r.text
            assert took < BOUND_S, f"password reset took {took:.1f}s with the bus down"

            started = time.monotonic()
            r = api.post(
                "/prompts",
                headers=auth,
                files={"file": ("greeting.wav", silence_wav(), "audio/wav")},
                data={"name": "Greeting"},
            )
            took = time.monotonic() - started
            assert r.status_code == 503, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.headers.get("Retry-After"), r.headers
            assert took < BOUND_S, f"the prompt upload took {took:.1f}s to fail"

        async def send() -> None:
            async with Adapters(stack.settings) as adapters:
                await adapters.bus.send("email", {"to": "x@example.com"}, "outage-probe")

        started = time.monotonic()
        with pytest.raises(Unavailable):
            asyncio.run(send())
        took = time.monotonic() - started
        assert took < BOUND_S, f"the bus took {took:.1f}s to give up"

        assert mail_to(stack.mail_dir, newcomer) == []
    finally:
        stack.azurite.start()

    eventually(
        lambda: httpx.get(f"{root}/readyz", timeout=10).status_code == 200,
        timeout=15,
        message="readyz 200 with storage back",
    )
    # Back up: the relay moves both emails within its interval (plus the email sink's pickup).
    verify = wait_for_mail(stack.mail_dir, newcomer, timeout=RELAY_INTERVAL_S + 20)
    assert "/verify?token=" in mail_text(verify)
    eventually(
        lambda: any("reset-password?token=" in mail_text(m) for m in mail_to(stack.mail_dir, owner)),
        timeout=RELAY_INTERVAL_S + 20,
        interval=0.2,
        message="the password-reset email",
    )
