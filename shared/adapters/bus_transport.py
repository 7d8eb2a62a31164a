"""Which message bus this deployment uses, and the one place that builds it.

`transport(settings)` is "servicebus" when `ServiceBusConnection` (a connection string) or
`ServiceBusConnection__fullyQualifiedNamespace` (a managed identity) is set, else "storage"
(Storage queues on `AzureWebJobsStorage`: Azurite locally). Every producer gets its bus from
`make_bus` (functions/wiring.py, sip_edge/__main__.py) and the queue functions pick their
trigger type from `transport` (functions/queue_runtime.py), so both ends of every queue agree.
"""

from __future__ import annotations

from typing import Any, Literal

from shared.adapters.azure_credentials import service_bus_endpoint, storage_endpoint
from shared.adapters.service_bus import ServiceBusBus
from shared.adapters.storage_queue_bus import StorageQueueBus
from shared.ports import MessageBus
from shared.settings import Settings

Transport = Literal["servicebus", "storage"]
SERVICE_BUS_CONNECTION = "ServiceBusConnection"  # the Functions host's connection setting name
STORAGE_CONNECTION = "AzureWebJobsStorage"


def transport(settings: Settings) -> Transport:
    if settings.service_bus_connection is not None or settings.service_bus_namespace:
        return "servicebus"
    return "storage"


def make_bus(
    settings: Settings,
    *,
    storage_options: dict[str, Any] | None = None,
    service_bus_options: dict[str, Any] | None = None,
) -> MessageBus:
    """The bus `transport(settings)` names; the options go to that adapter's SDK client. Both
    sign in as `shared.adapters.azure_credentials` says: a connection string, or the process's
    managed identity."""
    if transport(settings) == "servicebus":
        endpoint = service_bus_endpoint(settings)
        return ServiceBusBus(
            connection_string=endpoint.connection_string,
            namespace=endpoint.namespace,
            credential=endpoint.credential,
            **(service_bus_options or {}),
        )
    return StorageQueueBus(storage_endpoint(settings, "queue"), **(storage_options or {}))
