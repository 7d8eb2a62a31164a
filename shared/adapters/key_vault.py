"""Secrets from Azure Key Vault (azure-keyvault-secrets), for `shared.settings.KeyVaultSecretsSource`.

The long-lived processes (the SIP edge and the ConfigDB nodes, on VMs) read their secret settings
from the vault named by KEY_VAULT_URL, signed in with the process's `DefaultAzureCredential` (its
managed identity; the identity needs the "Key Vault Secrets User" role). The Function App does not
need this: its app settings are Key Vault references, resolved by the platform.

A secret the vault does not have is None (the setting stays unset, and a production process then
refuses to start naming it); a disabled secret, a refused identity or an unreachable vault stop
the start with one sentence (`KeyVaultUnavailable`).
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.keyvault.secrets import SecretClient

from shared.adapters.azure_credentials import process_credential
from shared.settings import KeyVaultUnavailable

# A vault that does not answer fails the start within seconds, not after the SDK's default retries.
CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 5,
    "read_timeout": 10,
    "retry_total": 2,
    "retry_backoff_factor": 0.5,
}


class KeyVaultSecrets:
    """A `shared.settings.SecretReader` over one vault."""

    def __init__(self, url: str, credential: Any = None, **client_options: Any) -> None:
        self.url = url
        self._client = SecretClient(
            url, credential or process_credential(), **{**CLIENT_OPTIONS, **client_options}
        )

    def get(self, name: str) -> str | None:
        try:
            return self._client.get_secret(name).value
        except ResourceNotFoundError:
            return None
        except (AzureError, ValueError) as exc:  # ValueError: the vault's challenge names another host
            reason = str(exc).splitlines()[0] if str(exc) else ""
            raise KeyVaultUnavailable(
                f"KEY_VAULT_URL {self.url} cannot be read (secret {name}: {type(exc).__name__}: {reason}):"
                " the process does not start without its secrets."
            ) from exc

    def close(self) -> None:
        self._client.close()
