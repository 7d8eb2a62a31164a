"""Managed identity and Key Vault, through the real processes and, when credentials are set, Azure.

Always: a ConfigDB node and a SIP edge given a KEY_VAULT_URL that cannot be read exit at once with
one sentence naming it (no traceback).

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
import os
import socket
import subprocess
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from infra.local.commands import configdb_node_command, edge_command
from infra.local.configdb_cluster import REPO
from infra.local.ports import free_port
from shared.settings import NodeEnvironment, Settings, key_vault_secret_name, secret_fields

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
