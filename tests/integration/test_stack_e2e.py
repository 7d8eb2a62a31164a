"""The whole local stack as real processes: Azurite, a 3-node ConfigDB shard, the SMTP
catcher and the functions host serving function_app:app. A new tenant signs up over HTTP,
the verification email goes through the `email` queue function to SMTP, and the link in
the .eml completes the sign-up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, mail_text, wait_for_mail
from shared.configdb import ConfigDBClient

pytestmark = pytest.mark.skipif(
    not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(Path(tmp_path_factory.mktemp("stack"))) as s:
        yield s


def test_signup_verify_by_email_login_and_configure(stack: LocalStack) -> None:
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

        match = re.search(r"token=([A-Za-z0-9_\-]+)", mail_text(wait_for_mail(stack.mail_dir, email)))
        assert match
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
    log = stack.host.log_path.read_text()
    assert '"function": "email_sink"' in log or '"function":"email_sink"' in log
