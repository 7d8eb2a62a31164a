"""The local SMTP catcher, as a real process on a free port, spoken to with smtplib."""

from __future__ import annotations

import json
import smtplib
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

import pytest

from infra.local.configdb_cluster import free_port
from infra.local.managed import ManagedProcess, ports_open


@pytest.fixture
def catcher(tmp_path: Path) -> Iterator[tuple[int, Path, ManagedProcess]]:
    port = free_port()
    mail = tmp_path / "mail"
    cmd = [sys.executable, "-m", "infra.local.smtp_catcher", "--host", "127.0.0.1", "--port", str(port)]
    proc = ManagedProcess(
        "smtp", [*cmd, "--dir", str(mail)], tmp_path / "smtp.log", ports_open("127.0.0.1", port)
    )
    with proc:
        yield port, mail, proc


def log_lines(proc: ManagedProcess, event: str, count: int, timeout: float = 5.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(x) for x in proc.log_path.read_text().splitlines() if x.startswith("{")]
        found = [x for x in lines if x["event"] == event]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_every_message_becomes_an_eml_file(catcher: tuple[int, Path, ManagedProcess]) -> None:
    port, mail, proc = catcher
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        for i in range(3):
            msg = EmailMessage()
            msg["From"] = "Cloud PBX <no-reply@cloudpbx.local>"
            msg["To"] = f"user{i}@example.com"
            msg["Subject"] = f"Welcome {i} — ünïcode"
            msg.set_content(f"Hello {i}\nhttp://127.0.0.1:8080/verify?t={i}\n")
            smtp.send_message(msg)
        smtp.sendmail("a@b.c", ["x@y.z", "w@y.z"], b"Subject: raw\r\n\r\nbody\r\n")

    files = sorted(mail.glob("*.eml"))
    assert len(files) == 4
    assert len({f.name for f in files}) == 4
    assert not list(mail.glob("*.tmp"))
    parsed = [message_from_bytes(f.read_bytes(), policy=default_policy) for f in files]
    subjects = sorted(str(m["Subject"]) for m in parsed)
    assert subjects == ["Welcome 0 — ünïcode", "Welcome 1 — ünïcode", "Welcome 2 — ünïcode", "raw"]
    raw = next(m for m in parsed if m["Subject"] == "raw")
    assert raw["Return-Path"] == "<a@b.c>" and raw["X-Envelope-To"] == "x@y.z, w@y.z"
    first = next(m for m in parsed if m["To"] == "user0@example.com")
    assert "verify?t=0" in first.get_content()

    lines = log_lines(proc, "mail", 4)
    assert len(lines) == 4
    assert {str(x["file"]) for x in lines} == {str(f) for f in files}
    assert next(x for x in lines if x["subject"] == "raw")["to"] == ["x@y.z", "w@y.z"]


def test_stops_cleanly_on_sigterm(catcher: tuple[int, Path, ManagedProcess]) -> None:
    port, _, proc = catcher
    proc.stop()
    assert proc.exit_code() == 0
    assert log_lines(proc, "stopped", 1)
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=2)


def test_busy_port_fails_with_a_message(catcher: tuple[int, Path, ManagedProcess], tmp_path: Path) -> None:
    port, mail, _ = catcher
    cmd = [sys.executable, "-m", "infra.local.smtp_catcher", "--port", str(port), "--dir", str(mail)]
    second = ManagedProcess("smtp2", cmd, tmp_path / "smtp2.log", ports_open("127.0.0.1", free_port()))
    second.start()
    with pytest.raises(RuntimeError, match="exited with code 1"):
        second.wait_ready(15)
    assert "cannot listen" in second.log_tail()
