"""Secret settings from Key Vault (KEY_VAULT_URL): each SecretStr setting from the secret named
after its environment name in kebab case, below the environment; a missing secret stays unset, a
vault that cannot be read stops the start with one sentence."""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import pytest
from azure.core.credentials import AccessToken
from pydantic import AliasChoices

from shared.adapters.key_vault import KeyVaultSecrets
from shared.settings import (
    DEV_JWT_SECRET,
    REPO,
    KeyVaultUnavailable,
    NodeEnvironment,
    ProductionSecretMissing,
    Settings,
    key_vault_secret_name,
    secret_fields,
)

VAULT_URL = "https://pbx-prod.vault.azure.net/"
JWT = "vault-jwt-secret-0123456789abcdef0123456789"


class Vault:
    """A vault's secrets by name (the `SecretReader` the source is given)."""

    def __init__(self, secrets: dict[str, str], opened: list[Vault]) -> None:
        self.secrets = secrets
        self.asked: list[str] = []
        self.closed = False
        opened.append(self)

    def get(self, name: str) -> str | None:
        self.asked.append(name)
        return self.secrets.get(name)

    def close(self) -> None:
        self.closed = True


def vault_settings(secrets: dict[str, str], opened: list[Vault], urls: list[str]) -> type[Settings]:
    def open_vault(url: str) -> Vault:
        urls.append(url)
        return Vault(secrets, opened)

    class VaultSettings(Settings):
        local_settings_file = None
        secret_reader = open_vault

    return VaultSettings


@pytest.fixture(autouse=True)
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PBX_ENVIRONMENT",
        "JWT_SECRET",
        "CONFIGDB_APP_TOKEN",
        "SERVICEBUSCONNECTION",
        "KEY_VAULT_URL",
    ):
        monkeypatch.delenv(name, raising=False)


def test_the_secret_names_are_the_environment_names_in_kebab_case() -> None:
    names = {key_vault_secret_name(f) for f in secret_fields(Settings)}
    assert {"jwt-secret", "jwt-previous-secrets", "configdb-app-token", "configdb-edge-token"} <= names
    assert {"configdb-token", "edge-control-token", "mongodb-uri", "smtp-password"} <= names
    assert "service-bus-connection" in names  # ServiceBusConnection
    assert "storage-connection" not in names  # not a secret: production refuses a connection string
    node = {key_vault_secret_name(f) for f in secret_fields(NodeEnvironment)}
    assert {"configdb-token", "configdb-peer-token", "configdb-tokens"} <= node


def test_with_key_vault_url_the_secrets_come_from_the_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Vault] = []
    urls: list[str] = []
    secrets = {
        "jwt-secret": JWT,
        "jwt-previous-secrets": "old-secret-one,old-secret-two",
        "configdb-app-token": "vault-app-token",
        "service-bus-connection": "Endpoint=sb://pbx.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=v",
        "unrelated-secret": "x",
    }
    monkeypatch.setenv("KEY_VAULT_URL", VAULT_URL)
    s = vault_settings(secrets, opened, urls)()
    assert urls == [VAULT_URL]
    assert s.jwt_secret.get_secret_value() == JWT
    assert [p.get_secret_value() for p in s.jwt_previous_secrets] == ["old-secret-one", "old-secret-two"]
    assert s.configdb_app_token.get_secret_value() == "vault-app-token"
    assert (
        s.service_bus_connection is not None
        and "pbx.servicebus" in s.service_bus_connection.get_secret_value()
    )
    assert s.mongodb_uri is None  # not in the vault: unset
    (vault,) = opened
    assert sorted(vault.asked) == sorted(key_vault_secret_name(f) for f in secret_fields(Settings))
    assert vault.closed


def test_the_environment_wins_over_the_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_VAULT_URL", VAULT_URL)
    monkeypatch.setenv("JWT_SECRET", "environment-jwt-secret-0123456789abcdef")
    s = vault_settings({"jwt-secret": JWT, "configdb-app-token": "vault-app-token"}, [], [])()
    assert s.jwt_secret.get_secret_value() == "environment-jwt-secret-0123456789abcdef"
    assert s.configdb_app_token.get_secret_value() == "vault-app-token"
    # keyword arguments (tests, tools) win over both
    assert (
        vault_settings({"jwt-secret": JWT}, [], [])(jwt_secret="k" * 32).jwt_secret.get_secret_value()
        == "k" * 32
    )


def test_a_secret_missing_from_the_vault_is_unset_and_production_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KEY_VAULT_URL", VAULT_URL)
    s = vault_settings({"configdb-app-token": "vault-app-token"}, [], [])()
    assert s.jwt_secret.get_secret_value() == DEV_JWT_SECRET
    with pytest.raises(ProductionSecretMissing) as refusal:
        s.require_secrets("jwt_secret", "configdb_app_token")
    assert str(refusal.value.code) == (
        "JWT_SECRET is not set: a production process does not start on the development default."
        " Set JWT_SECRET, or PBX_ENVIRONMENT=local for a local run."
    )


def test_without_key_vault_url_no_vault_is_opened() -> None:
    opened: list[Vault] = []
    s = vault_settings({"jwt-secret": JWT}, opened, [])()
    assert opened == [] and s.jwt_secret.get_secret_value() == DEV_JWT_SECRET


def test_the_node_reads_its_tokens_from_the_vault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEY_VAULT_URL", VAULT_URL)
    monkeypatch.setenv("CONFIGDB_TOKEN", "environment-admin-token")
    monkeypatch.delenv("CONFIGDB_PEER_TOKEN", raising=False)
    monkeypatch.delenv("CONFIGDB_TOKENS", raising=False)
    opened: list[Vault] = []
    secrets = {"configdb-token": "vault-admin", "configdb-peer-token": "vault-peer"}

    class VaultNode(NodeEnvironment):
        secret_reader = staticmethod(lambda url: Vault(secrets, opened))

    env = VaultNode()
    assert env.secret("configdb_token") == "environment-admin-token"
    assert env.secret("configdb_peer_token") == "vault-peer"
    assert env.secret("configdb_tokens") is None
    assert opened[0].closed


class StaticToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("token", int(time.time()) + 3600)


def test_an_unreachable_vault_stops_the_start_with_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{sock.getsockname()[1]}/"

    class RealVaultSettings(Settings):
        local_settings_file = None
        secret_reader = staticmethod(lambda u: KeyVaultSecrets(u, StaticToken(), retry_total=0))

    monkeypatch.setenv("KEY_VAULT_URL", url)
    started = time.monotonic()
    with pytest.raises(KeyVaultUnavailable) as stop:
        RealVaultSettings()
    assert time.monotonic() - started < 10
    message = str(stop.value.code)
    assert message.startswith(f"KEY_VAULT_URL {url} cannot be read (secret ")
    assert message.endswith("the process does not start without its secrets.")
    assert "\n" not in message


def test_the_deployment_guide_names_every_secret_as_the_source_looks_it_up() -> None:
    """docs/deploy-azure.md's table: `secret` | `SETTING` ... for every secret setting (the Service
    Bus connection string excepted: the deployment reaches Service Bus with its identity)."""
    text = (REPO / "docs" / "deploy-azure.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| `([A-Za-z_]+)`", text, flags=re.MULTILINE)
    documented = {setting: secret for secret, setting in rows}
    expected = {}
    for cls in (Settings, NodeEnvironment):
        for name in secret_fields(cls):
            alias = cls.model_fields[name].validation_alias
            env = alias.choices[0] if isinstance(alias, AliasChoices) else name.upper()
            expected[env] = key_vault_secret_name(name)
    assert expected.pop("ServiceBusConnection") == "service-bus-connection"
    assert documented == expected
