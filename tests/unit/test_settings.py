"""Settings: defaults, env overrides, list and map parsing, clear validation errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared import settings as settings_mod
from shared.settings import LOCAL_SETTINGS_FILE, Settings, azurite_connection_string, get_settings

ENV_NAMES = [
    "CONFIGDB_ENDPOINTS",
    "CONFIGDB_TOKEN",
    "AzureWebJobsStorage",
    "MONGODB_URI",
    "DATA_DIR",
    "JWT_SECRET",
    "JWT_PREVIOUS_SECRETS",
    "ACCESS_TOKEN_TTL_SECONDS",
    "REFRESH_TOKEN_TTL_SECONDS",
    "REGION",
    "REGION_BASE_URLS",
    "SMTP_HOST",
    "SMTP_PORT",
    "SMTP_SENDER",
    "SMTP_USERNAME",
    "SMTP_PASSWORD",
    "SMTP_STARTTLS",
    "PUBLIC_BASE_URL",
]


class Isolated(Settings):
    """Settings with only env and defaults: no local.settings.json."""

    local_settings_file = None


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_defaults_are_the_local_stack() -> None:
    s = Isolated()
    assert s.configdb_endpoints == ["http://127.0.0.1:7101", "http://127.0.0.1:7102", "http://127.0.0.1:7103"]
    assert s.configdb_token.get_secret_value() == "dev-configdb-token"
    assert s.storage_connection == azurite_connection_string()
    assert "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;" in s.storage_connection
    assert (s.smtp_host, s.smtp_port) == ("127.0.0.1", 2525)
    assert s.api_base_url == "http://127.0.0.1:7071/api"
    assert s.public_base_url == "http://127.0.0.1:8080"
    assert s.access_token_ttl_seconds == 900
    assert s.jwt_verification_secrets == [s.jwt_secret.get_secret_value()]


def test_local_settings_json_agrees_with_the_defaults() -> None:
    """local.settings.json and the code defaults describe the same local stack."""
    values = json.loads(LOCAL_SETTINGS_FILE.read_text())["Values"]
    from_file = Settings()
    defaults = Isolated()
    assert from_file.model_dump() == defaults.model_dump()
    assert values["CONFIGDB_TOKEN"] == "dev-configdb-token"


def test_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIGDB_ENDPOINTS", " https://a:1/ , https://b:2,,https://c:3 ")
    monkeypatch.setenv("CONFIGDB_TOKEN", "tok")
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("JWT_SECRET", "n" * 40)
    monkeypatch.setenv("JWT_PREVIOUS_SECRETS", "o" * 40 + "," + "p" * 40)
    monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", "60")
    monkeypatch.setenv("REGION", "eu")
    monkeypatch.setenv(
        "REGION_BASE_URLS", '{"eu": "https://eu.example/api/", "us": "https://us.example/api"}'
    )
    monkeypatch.setenv("SMTP_PORT", "587")
    monkeypatch.setenv("smtp_starttls", "true")  # names are case-insensitive
    s = Isolated()
    assert s.configdb_endpoints == ["https://a:1", "https://b:2", "https://c:3"]
    assert s.configdb_token.get_secret_value() == "tok"
    assert s.storage_connection == "UseDevelopmentStorage=true"
    assert s.jwt_verification_secrets == ["n" * 40, "o" * 40, "p" * 40]
    assert s.access_token_ttl_seconds == 60
    assert s.region_base_urls == {"eu": "https://eu.example/api", "us": "https://us.example/api"}
    assert s.api_base_url == "https://eu.example/api"
    assert s.smtp_port == 587 and s.smtp_starttls is True


def test_env_beats_local_settings_json_and_init_beats_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    f = tmp_path / "local.settings.json"
    f.write_text(json.dumps({"Values": {"CONFIGDB_TOKEN": "from-file", "SMTP_PORT": "2626"}}))

    class FromFile(Settings):
        local_settings_file = f

    assert FromFile().configdb_token.get_secret_value() == "from-file"
    assert FromFile().smtp_port == 2626
    monkeypatch.setenv("CONFIGDB_TOKEN", "from-env")
    assert FromFile().configdb_token.get_secret_value() == "from-env"
    assert FromFile(configdb_token="from-init").configdb_token.get_secret_value() == "from-init"
    assert FromFile(storage_connection="x").storage_connection == "x"


def test_json_array_is_accepted_for_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFIGDB_ENDPOINTS", '["http://x:1", "http://y:2"]')
    assert Isolated().configdb_endpoints == ["http://x:1", "http://y:2"]


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("SMTP_PORT", "not-a-port", "smtp_port"),
        ("SMTP_PORT", "70000", "smtp_port"),
        ("ACCESS_TOKEN_TTL_SECONDS", "0", "access_token_ttl_seconds"),
        ("CONFIGDB_ENDPOINTS", "", "configdb_endpoints"),
        ("CONFIGDB_ENDPOINTS", "127.0.0.1:7101", "is not an http(s) URL"),
        ("JWT_SECRET", "short", "at least 32 characters"),
        ("REGION", "mars", "region 'mars' has no entry in REGION_BASE_URLS"),
        ("PUBLIC_BASE_URL", "example.com", "public_base_url"),
        ("EDGE_CONTROL_HOST", "edge.internal", "'edge.internal' is not an IP address"),
        ("EDGE_CONTROL_HOST", "10.40.3.10:7401", "is not an IP address"),
    ],
)
def test_bad_values_fail_clearly(monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as err:
        Isolated()
    assert needle in str(err.value)


def test_bad_json_map_fails_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGION_BASE_URLS", "{not json")
    with pytest.raises(Exception, match="region_base_urls"):
        Isolated()


def test_settings_are_frozen_and_secrets_hidden() -> None:
    s = Isolated()
    with pytest.raises(ValidationError):
        s.smtp_port = 1  # type: ignore[misc]
    text = repr(s)
    assert "dev-configdb-token" not in text
    assert "Eby8vdM02" not in text
    assert s.jwt_secret.get_secret_value() not in text


def test_get_settings_reads_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_mod.Settings, "local_settings_file", None)
    first = get_settings()
    monkeypatch.setenv("SMTP_PORT", "2600")
    assert get_settings() is first and first.smtp_port == 2525
    get_settings.cache_clear()
    assert get_settings().smtp_port == 2600


def test_as_env_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWT_PREVIOUS_SECRETS", "q" * 32)
    monkeypatch.setenv("MONGODB_URI", "mongodb://h:27017")
    original = Isolated()
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    for name, value in original.as_env().items():
        monkeypatch.setenv(name, value)
    again = Isolated()
    assert again.model_dump() == original.model_dump()
    assert again.jwt_verification_secrets == original.jwt_verification_secrets
