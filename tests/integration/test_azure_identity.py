"""Managed identity and Key Vault, through the real processes and, when credentials are set, Azure.

Always: a ConfigDB node and a SIP edge given a KEY_VAULT_URL that cannot be read exit at once with
one sentence naming it (no traceback); and the Key Vault adapter against a stand-in of the secrets
API over https (bearer challenge, value, 404 SecretNotFound as unset, 403 for a disabled secret as
a stop), feeding the node's settings.

Contract tests, run only with Azure credentials (a managed identity, `az login`, or
AZURE_CLIENT_ID with a secret or federated token) and:
- KEY_VAULT_URL: each of our secret names the vault holds reaches the settings (below the
  environment), and a name it lacks reads as unset;
- AzureWebJobsStorage__accountName: a blob written under the identity is served by its
  user-delegation SAS link (`skoid` in it), and the link stops working for another blob.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from azure.core.credentials import AccessToken

from infra.local.commands import configdb_node_command, edge_command
from infra.local.configdb_cluster import REPO
from infra.local.ports import free_port
from shared.adapters.key_vault import KeyVaultSecrets
from shared.settings import (
    KeyVaultUnavailable,
    NodeEnvironment,
    Settings,
    key_vault_secret_name,
    secret_fields,
)
from tests.integration.tls import self_signed

KEY_VAULT_URL = os.environ.get("KEY_VAULT_URL", "")
STORAGE_ACCOUNT = os.environ.get("AZUREWEBJOBSSTORAGE__ACCOUNTNAME", "")  # environment names: any case
AZURE_CREDENTIALS = any(
    os.environ.get(name)
    for name in (
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_FEDERATED_TOKEN_FILE",
        "IDENTITY_ENDPOINT",
        "MSI_ENDPOINT",
        "AZURE_CONFIG_DIR",
    )
)


def closed_vault_url() -> str:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{sock.getsockname()[1]}/"


def node_command(tmp_path: Path) -> list[str]:
    return configdb_node_command(
        *("--node-id", "n1", "--data-dir", str(tmp_path / "n1"), "--http", f"127.0.0.1:{free_port()}"),
        *("--stream", f"127.0.0.1:{free_port()}", "--raft", f"127.0.0.1:{free_port()}"),
    )


@pytest.mark.parametrize("process", ["configdb_node", "sip_edge"])
def test_an_unreadable_vault_stops_the_process_with_one_sentence(process: str, tmp_path: Path) -> None:
    url = closed_vault_url()
    argv = node_command(tmp_path) if process == "configdb_node" else edge_command(tmp_path / "edge")
    env = {k: v for k, v in os.environ.items() if k != "PBX_ENVIRONMENT"}
    done = subprocess.run(
        argv, cwd=REPO, env={**env, "KEY_VAULT_URL": url}, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith(f"KEY_VAULT_URL {url} cannot be read (secret ")
    assert lines[0].endswith("the process does not start without its secrets.")


class VaultStandIn:
    """Key Vault's secrets API over https, as the SDK speaks it: an unauthenticated first request
    gets the bearer challenge, then GET /secrets/{name} answers the value, 404 SecretNotFound, or
    403 for a disabled secret."""

    def __init__(self, directory: Path, secrets: dict[str, str], disabled: set[str]) -> None:
        self.cert, key = self_signed(directory)
        self.secrets, self.disabled = secrets, disabled
        self.tokens: list[str] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self, status: int, doc: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                body = json.dumps(doc).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                if not auth:
                    challenge = (
                        'Bearer authorization="https://login.microsoftonline.com/72f988bf-0000-4000-8000-00000000000b",'
                        ' resource="https://vault.azure.net"'
                    )
                    self.answer(401, {"error": {"code": "Unauthorized"}}, {"WWW-Authenticate": challenge})
                    return
                stand_in.tokens.append(auth)
                name = urlsplit(self.path).path.split("/")[2]
                if name in stand_in.disabled:
                    self.answer(403, {"error": {"code": "Forbidden", "message": "secret is disabled"}})
                elif name in stand_in.secrets:
                    base = f"https://127.0.0.1:{stand_in.port}"
                    doc = {"value": stand_in.secrets[name], "id": f"{base}/secrets/{name}/v1"}
                    self.answer(200, {**doc, "attributes": {"enabled": True}})
                else:
                    self.answer(404, {"error": {"code": "SecretNotFound", "message": f"{name} not found"}})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reader(self, url: str) -> KeyVaultSecrets:
        # the challenge names vault.azure.net, not 127.0.0.1: the SDK's host check is off here only
        return KeyVaultSecrets(
            url, StaticToken(), verify_challenge_resource=False, connection_verify=str(self.cert)
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class StaticToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(f"token-for-{scopes[0]}", int(time.time()) + 3600)


def test_the_key_vault_adapter_against_a_stand_in_of_the_secrets_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vault = VaultStandIn(
        tmp_path,
        {"configdb-token": "vault-admin-0123456789", "configdb-peer-token": "vault-peer-0123456789"},
        disabled={"configdb-tokens"},
    )
    try:
        reader = vault.reader(vault.url)
        assert reader.get("configdb-peer-token") == "vault-peer-0123456789"
        assert reader.get("configdb-tokens-absent") is None
        with pytest.raises(KeyVaultUnavailable) as stop:
            reader.get("configdb-tokens")
        assert "cannot be read (secret configdb-tokens: HttpResponseError" in str(stop.value.code)
        reader.close()
        assert vault.tokens and all(
            t == "Bearer token-for-https://vault.azure.net/.default" for t in vault.tokens
        )

        class VaultNode(NodeEnvironment):
            secret_reader = vault.reader

        monkeypatch.setenv("KEY_VAULT_URL", vault.url)
        for name in (
            "CONFIGDB_TOKEN",
            "CONFIGDB_PEER_TOKEN",
            "CONFIGDB_TOKENS",
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
        ):
            monkeypatch.delenv(name, raising=False)
        with pytest.raises(KeyVaultUnavailable):  # the disabled secret stops the start
            VaultNode()
        vault.disabled.clear()
        env = VaultNode()
        assert env.secret("configdb_token") == "vault-admin-0123456789"
        assert env.secret("configdb_peer_token") == "vault-peer-0123456789"
        assert env.secret("configdb_tokens") is None  # not in the vault: unset
    finally:
        vault.close()


# --------------------------------------------------------------------------- contract (Azure)


@pytest.mark.skipif(
    not (KEY_VAULT_URL and AZURE_CREDENTIALS), reason="KEY_VAULT_URL and Azure credentials are not set"
)
def test_key_vault_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.keyvault.secrets import SecretClient

    from shared.adapters.azure_credentials import process_credential
    from shared.adapters.key_vault import KeyVaultSecrets

    vault = KeyVaultSecrets(KEY_VAULT_URL)
    assert vault.get(f"pbx-contract-absent-{uuid.uuid4().hex}") is None
    vault.close()

    with SecretClient(KEY_VAULT_URL, process_credential()) as client:
        held = {p.name for p in client.list_properties_of_secrets() if p.enabled}
    for cls in (Settings, NodeEnvironment):
        fields = secret_fields(cls)
        for name in fields:  # nothing in the environment: every value comes from the vault
            monkeypatch.delenv(name.upper(), raising=False)
        monkeypatch.delenv("SERVICEBUSCONNECTION", raising=False)

        class FromVault(cls):  # type: ignore[valid-type, misc]
            local_settings_file = None

        settings = FromVault()
        reader = KeyVaultSecrets(KEY_VAULT_URL)
        try:
            for name in fields:
                secret = key_vault_secret_name(name)
                value = getattr(settings, name)
                if secret not in held:
                    continue
                expected = reader.get(secret)
                if isinstance(value, list):
                    assert ",".join(v.get_secret_value() for v in value) == expected, secret
                else:
                    assert value is not None and value.get_secret_value() == expected, secret
        finally:
            reader.close()


@pytest.mark.skipif(
    not (STORAGE_ACCOUNT and AZURE_CREDENTIALS),
    reason="AzureWebJobsStorage__accountName and Azure credentials are not set",
)
def test_blob_user_delegation_link_contract() -> None:
    from shared.adapters.azure_credentials import storage_endpoint
    from shared.adapters.blob_media import BlobMedia

    settings = Settings(storage_account_name=STORAGE_ACCOUNT)
    media = BlobMedia(storage_endpoint(settings, "blob"))
    name = f"contract/{uuid.uuid4().hex}.txt"
    try:
        asyncio.run(media.upload("pbx-contract", name, b"delegated", "text/plain"))
        url = media.read_url("pbx-contract", name, now=dt.datetime.now(dt.UTC), ttl=dt.timedelta(minutes=5))
        query = parse_qs(urlsplit(url).query)
        assert query["skoid"] and query["spr"] == ["https"]
        response = httpx.get(url, timeout=30)
        assert response.status_code == 200 and response.content == b"delegated"
        other = url.replace(name, f"contract/{uuid.uuid4().hex}.txt")
        assert httpx.get(other, timeout=30).status_code == 403  # the signature covers one blob
    finally:
        asyncio.run(media.delete("pbx-contract", name))
        media.close()
