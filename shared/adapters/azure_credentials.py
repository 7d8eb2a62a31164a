"""How this process reaches Azure: Azurite's connection string locally, its managed identity in Azure.

Every Blob, Queue and Service Bus client is built from what these functions return:

- `storage_endpoint(settings, "blob" | "queue")`: the connection string (`AzureWebJobsStorage`)
  when storage is Azurite, else the service URL with the process's credential
  (`AzureWebJobsStorage__accountName`, or `__blobServiceUri` / `__queueServiceUri`);
- `service_bus_endpoint(settings)`: the connection string (`ServiceBusConnection`), else the
  namespace (`ServiceBusConnection__fullyQualifiedNamespace`) with the process's credential.

The credential is one `DefaultAzureCredential` per process (`process_credential()`), so every
client shares its token cache: on Azure it is the managed identity (a user-assigned one when
`AZURE_CLIENT_ID` is set, which the SDK reads itself); on a workstation, `az login`. It makes no
request until a client asks for a token. Long-lived processes close it at exit
(`close_process_credential()`); a Functions worker keeps it for its lifetime.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

_lock = threading.Lock()
_credential: TokenCredential | None = None


def process_credential() -> TokenCredential:
    """The process's `DefaultAzureCredential`, made on first use."""
    global _credential
    with _lock:
        if _credential is None:
            from azure.identity import DefaultAzureCredential

            _credential = DefaultAzureCredential()
        return _credential


def close_process_credential() -> None:
    """Close the process's credential, if one was made (at the exit of a long-lived process)."""
    global _credential
    with _lock:
        credential, _credential = _credential, None
    close = getattr(credential, "close", None)
    if close is not None:
        close()


@dataclass(frozen=True)
class StorageEndpoint:
    """Either `connection_string` (Azurite) or `account_url` with `credential` (an identity)."""

    connection_string: str | None = None
    account_url: str | None = None
    credential: TokenCredential | None = None

    def __repr__(self) -> str:  # the connection string holds an account key
        return f"StorageEndpoint(account_url={self.account_url!r}, identity={self.credential is not None})"


@dataclass(frozen=True)
class ServiceBusEndpoint:
    """Either `connection_string` or `namespace` (fully qualified) with `credential`."""

    connection_string: str | None = None
    namespace: str | None = None
    credential: TokenCredential | None = None

    def __repr__(self) -> str:  # the connection string holds a shared access key
        return f"ServiceBusEndpoint(namespace={self.namespace!r}, identity={self.credential is not None})"


def storage_endpoint(settings: Settings, service: Literal["blob", "queue"]) -> StorageEndpoint:
    """The blob or queue service this process uses, and how it signs in."""
    url = settings.storage_service_url(service)
    if url is None:
        return StorageEndpoint(connection_string=settings.storage_connection)
    return StorageEndpoint(account_url=url, credential=process_credential())


def service_bus_endpoint(settings: Settings) -> ServiceBusEndpoint:
    """The Service Bus namespace: its connection string when set, else the namespace under the
    identity. ValueError when neither is set (the storage-queue transport is in use then)."""
    connection = settings.service_bus_connection
    if connection is not None and connection.get_secret_value():
        return ServiceBusEndpoint(connection_string=connection.get_secret_value())
    if settings.service_bus_namespace:
        return ServiceBusEndpoint(namespace=settings.service_bus_namespace, credential=process_credential())
    raise ValueError("neither ServiceBusConnection nor ServiceBusConnection__fullyQualifiedNamespace is set")
