"""The email sink's SMTP behaviour against a real aiosmtpd server on a free port: a temporary
refusal (451) is retried within the delivery and then sent; a permanent one (550) is `Rejected`
at once (the queue glue poisons it); a closed port is `Unavailable` after the retries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from infra.local.configdb_cluster import free_port
from shared.adapters.smtp_mailer import SmtpMailer
from shared.errors import Rejected, Unavailable
from shared.notifications.models import OutgoingEmail
from shared.notifications.services.messaging import SMTP_ATTEMPTS, EmailService


class Scripted:
    """Answers DATA with the scripted replies in turn, then accepts."""

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies
        self.accepted: list[bytes] = []
        self.attempts = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.replies:
            return self.replies.pop(0)
        self.accepted.append(envelope.original_content or b"")
        return "250 OK"


class NoBlobs:
    async def download(self, container: str, name: str) -> bytes:
        raise AssertionError("no attachments here")


@pytest.fixture
def server() -> Iterator[tuple[Scripted, int]]:
    handler = Scripted([])
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


MAIL = OutgoingEmail(message_id="m-1", to="ann@example.com", subject="Hi", text="Hello")


def run(service: EmailService) -> Any:
    return asyncio.run(service.handle(MAIL))


async def no_sleep(_: float) -> None:
    return None


def test_temporary_refusal_is_retried_then_sent(server: tuple[Scripted, int]) -> None:
    handler, port = server
    handler.replies = ["451 try again later", "451 try again later"]
    tally = run(EmailService(SmtpMailer("127.0.0.1", port, "pbx@example.com"), NoBlobs(), no_sleep))
    assert handler.attempts == 3 and len(handler.accepted) == 1
    assert tally.done == 1 and tally.notes["smtp_retries"] == 2
    assert b"Message-ID: <m-1@cloudpbx>" in handler.accepted[0]


def test_permanent_refusal_is_not_retried(server: tuple[Scripted, int]) -> None:
    handler, port = server
    handler.replies = ["550 mailbox unavailable"]
    with pytest.raises(Rejected):
        run(EmailService(SmtpMailer("127.0.0.1", port, "pbx@example.com"), NoBlobs(), no_sleep))
    assert handler.attempts == 1


def test_closed_port_is_unavailable_after_the_retries() -> None:
    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    with pytest.raises(Unavailable):
        run(
            EmailService(SmtpMailer("127.0.0.1", free_port(), "pbx@example.com", timeout=2), NoBlobs(), sleep)
        )
    assert len(slept) == SMTP_ATTEMPTS - 1
