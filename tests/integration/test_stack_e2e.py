"""The whole local stack as real processes: Azurite, a 3-node ConfigDB shard, the SMTP
catcher and the functions host serving function_app:app. A new tenant signs up over HTTP,
the verification email goes through the `email` queue function to SMTP, and the link in
the .eml completes the sign-up."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
import pytest

from infra.local.azurite import AZURITE_BIN, Azurite
from infra.local.configdb_cluster import LocalCluster, free_port
from infra.local.managed import ManagedProcess, http_ok, ports_open
from shared.configdb import ConfigDBClient
from shared.settings import Settings

pytestmark = pytest.mark.skipif(
    not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"
)


@dataclass
class Stack:
    api: str
    mail_dir: Path
    cluster: LocalCluster
    host: ManagedProcess


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    base = tmp_path_factory.mktemp("stack")
    azurite = Azurite(base / "azurite")
    cluster = LocalCluster(base_dir=base / "configdb")
    smtp_port, api_port = free_port(), free_port()
    mail_dir = base / "mail"
    smtp = ManagedProcess(
        "smtp",
        [
            sys.executable,
            "-m",
            "infra.local.smtp_catcher",
            "--host",
            "127.0.0.1",
            "--port",
            str(smtp_port),
            "--dir",
            str(mail_dir),
        ],
        base / "smtp.log",
        ports_open("127.0.0.1", smtp_port),
    )
    started: list[object] = []
    try:
        azurite.start()
        started.append(azurite)
        cluster.start()
        started.append(cluster)
        smtp.start()
        started.append(smtp)
        smtp.wait_ready(15)
        settings = Settings(
            configdb_endpoints=cluster.endpoints,
            configdb_token=cluster.token,
            storage_connection=azurite.connection_string,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            data_dir=base / "data",
            public_base_url="http://127.0.0.1:8080",
        )
        host = ManagedProcess(
            "functions",
            [
                sys.executable,
                "-m",
                "functions.devhost",
                "--app",
                "function_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(api_port),
                "--storage",
                azurite.connection_string,
                "--data-dir",
                str(base / "devhost"),
                "--retry-delay",
                "1",
            ],
            base / "functions.log",
            http_ok(f"http://127.0.0.1:{api_port}/api/v1/health"),
            env=settings.as_env(),
        )
        host.start()
        started.append(host)
        host.wait_ready(60)
        yield Stack(f"http://127.0.0.1:{api_port}/api/v1", mail_dir, cluster, host)
    finally:
        for part in reversed(started):
            part.stop()  # type: ignore[attr-defined]


def _wait_for_mail(mail_dir: Path, to: str, timeout: float = 30) -> Message:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.eml")) if mail_dir.exists() else []:
            msg = message_from_bytes(path.read_bytes())
            if msg["To"] == to:
                return msg
        time.sleep(0.2)
    raise AssertionError(f"no mail to {to} arrived in {timeout}s")


def _body_text(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()  # type: ignore[union-attr]
    raise AssertionError("no text part")


def test_signup_verify_by_email_login_and_configure(stack: Stack) -> None:
    email = "owner@acme.example"
    with httpx.Client(base_url=stack.api, timeout=10) as api:
        r = api.post(
            "/signup",
            json={
                "company": "Acme Plumbing",
                "name": "Ada Owner",
                "email": email,
                "password": "correct horse battery",
                "region": "local",
            },
        )
        assert r.status_code == 201, r.text
        tenant_id = r.json()["tenant"]["id"]
        assert (
            api.post("/auth/login", json={"email": email, "password": "correct horse battery"}).status_code
            == 403
        )

        mail = _wait_for_mail(stack.mail_dir, email)
        match = re.search(r"token=([A-Za-z0-9_\-]+)", _body_text(mail))
        assert match, _body_text(mail)
        assert api.post("/signup/verify", json={"token": match.group(1)}).status_code == 200

        login = api.post("/auth/login", json={"email": email, "password": "correct horse battery"})
        assert login.status_code == 200, login.text
        auth = {"Authorization": f"Bearer {login.json()['access_token']}"}
        tenant = api.get("/tenant", headers=auth).json()
        assert tenant["id"] == tenant_id and tenant["status"] == "trial"
        user = api.post(
            "/users",
            headers=auth,
            json={
                "name": "Bob Field",
                "email": "bob@acme.example",
                "extension": "201",
                "forwarding_numbers": ["+15551230001"],
                "ring_timeout_s": 20,
            },
        )
        assert user.status_code == 201, user.text

    # The configuration is replicated: read it back from a node the API may never have used.
    with ConfigDBClient([stack.cluster.nodes[2].http], stack.cluster.token) as db:
        keys = [kv.key for kv in db.iter_prefix(f"t/{tenant_id}/")]
    assert any("/user/" in k for k in keys)
    # The host logged the queue invocation as a structured line.
    log = (stack.host.log_path).read_text()
    assert '"function": "email_sink"' in log or '"function":"email_sink"' in log
