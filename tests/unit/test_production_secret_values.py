"""`require_production_secrets` refuses the values a production process must never sign with."""

from __future__ import annotations

import pytest

from shared.settings import DEV_JWT_SECRET, ProductionSecretMissing, require_production_secrets

REAL = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0"


def test_own_values_start() -> None:
    require_production_secrets("production", {"JWT_SECRET": REAL, "CONFIGDB_APP_TOKEN": REAL})


def test_local_environment_allows_the_development_values() -> None:
    require_production_secrets("local", {"JWT_SECRET": None, "CONFIGDB_APP_TOKEN": DEV_JWT_SECRET})


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (None, "JWT_SECRET is not set"),
        (DEV_JWT_SECRET, "JWT_SECRET holds a development value"),
        (
            "@Microsoft.KeyVault(SecretUri=https://kv-pbx.vault.azure.net/secrets/jwt-secret/)",
            "JWT_SECRET holds an unresolved Key Vault reference",
        ),
        ("  @Microsoft.KeyVault(VaultName=kv-pbx;SecretName=jwt-secret)", "unresolved Key Vault reference"),
    ],
)
def test_refused_values_name_the_setting(value: str | None, needle: str) -> None:
    with pytest.raises(ProductionSecretMissing) as refused:
        require_production_secrets("production", {"JWT_SECRET": value, "CONFIGDB_APP_TOKEN": REAL})
    text = str(refused.value)
    assert needle in text
    assert "CONFIGDB_APP_TOKEN" not in text
    assert len(text.splitlines()) == 1
