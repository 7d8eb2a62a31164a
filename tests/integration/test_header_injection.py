"""A company name with a CR/LF cannot inject email headers: names are refused at input, and the
SMTP mailer folds any header value to one line before sending (to a real catcher process)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.local.configdb_cluster import free_port
from infra.local.managed import ManagedProcess, ports_open
from shared.adapters.smtp_mailer import SmtpMailer
from shared.directory.models.tenant import TenantCreate, TenantPatch
from shared.directory.services.accounts import SignupIn
from shared.notifications.models import OutgoingEmail

POISONED = "Acme\r\nBcc: victim@elsewhere.test"


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port = free_port()
    mail = tmp_path / "mail"
    cmd = [sys.executable, "-m", "infra.local.smtp_catcher", "--host", "127.0.0.1", "--port", str(port)]
    proc = ManagedProcess(
        "smtp", [*cmd, "--dir", str(mail)], tmp_path / "smtp.log", ports_open("127.0.0.1", port)
    )
    with proc:
        yield port, mail


def test_the_mailer_sends_a_poisoned_subject_on_one_line_without_extra_headers(
    catcher: tuple[int, Path],
) -> None:
    port, mail = catcher
    mailer = SmtpMailer("127.0.0.1", port, "Cloud PBX <no-reply@cloudpbx.local>")
    email = OutgoingEmail(
        message_id="m1", to="owner@acme.test", subject=f"Your trial of {POISONED} has ended", text="Bye"
    )
    asyncio.run(mailer.send(email))

    (eml,) = mail.glob("*.eml")
    raw = eml.read_bytes()
    parsed = message_from_bytes(raw, policy=default_policy)
    assert str(parsed["Subject"]) == "Your trial of Acme Bcc: victim@elsewhere.test has ended"
    assert parsed["Bcc"] is None
    assert parsed["X-Envelope-To"] == "owner@acme.test"  # the only recipient
    assert b"\r\nBcc:" not in raw and b"\nBcc:" not in raw


@pytest.mark.parametrize("name", [POISONED, "Acme\nInc", "Acme\tInc", "Acme\x00", "Acme\u2028Inc"])
def test_names_with_control_characters_are_refused_at_input(name: str) -> None:
    with pytest.raises(ValidationError, match=r"single line|blank"):
        SignupIn(company=name, name="Olive", email="o@acme.test", password="correct horse 1")
    with pytest.raises(ValidationError, match=r"single line|blank"):
        SignupIn(company="Acme", name=name, email="o@acme.test", password="correct horse 1")
    with pytest.raises(ValidationError, match=r"single line|blank"):
        TenantPatch(name=name)
    with pytest.raises(ValidationError, match=r"single line|blank"):
        TenantCreate(name=name)


def test_ordinary_names_still_pass() -> None:
    assert TenantPatch(name="Zoë & Søn — Dental, Inc.").name == "Zoë & Søn — Dental, Inc."
    assert SignupIn(company="Acme", name="Olive O'Neil", email="o@acme.test", password="correct horse 1")
