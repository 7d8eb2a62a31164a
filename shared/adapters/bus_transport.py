"""Which message bus this deployment uses, and the one place that builds it.

`transport(settings)` is "servicebus" when `ServiceBusConnection` (a connection string) or
`ServiceBusConnection__fullyQualifiedNamespace` (a managed identity) is set, else "storage"
(Storage queues on `AzureWebJobsStorage`: Azurite locally). Every producer gets its bus from
`make_bus` (functions/wiring.py, sip_edge/__main__.py) and the queue functions pick their
trigger type from `transport` (functions/queue_runtime.py), so both ends of every queue agree.
"""

from __future__ import annotations

from typing import Any, Literal

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
    """The bus `transport(settings)` names; the options go to that adapter's SDK client."""
    if transport(settings) == "servicebus":
        secret = settings.service_bus_connection
        connection = secret.get_secret_value() if secret is not None else None
        return ServiceBusBus(
            connection_string=connection or None,
            namespace=settings.service_bus_namespace,
            **(service_bus_options or {}),
        )
    return StorageQueueBus(settings.storage_connection, **(storage_options or {}))
