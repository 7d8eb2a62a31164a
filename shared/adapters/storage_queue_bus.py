"""MessageBus over Azure Storage queues (Azurite locally).

The body is JSON with the envelope (`shared.adapters.bus_envelope`: `message_id`,
`schema_version`, `traceparent`), sent base64-encoded: the Azure Functions host (and our
local host in functions/devhost, `decode_body(..., "base64")`) decodes queue messages as
base64 by default. Storage queues assign their own message ids, so the idempotency key
travels in the body only. Queue names are used as given; a queue is created on first use.

The synchronous SDK client runs in a worker thread: the async one needs aiohttp, which
this deployment does not ship.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import threading
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.storage.queue import QueueServiceClient

from shared.adapters.azure_credentials import StorageEndpoint
from shared.adapters.bus_envelope import envelope, to_json
from shared.errors import Unavailable


def encode_message(body: dict[str, Any], message_id: str) -> str:
    """The queue message text: base64 of the JSON body, with the envelope inside."""
    return base64.b64encode(to_json(envelope(body, message_id))).decode()


class StorageQueueBus:
    def __init__(self, storage: str | StorageEndpoint, **client_options: Any) -> None:
        """`storage`: a connection string (Azurite) or the queue endpoint of
        `azure_credentials.storage_endpoint` (a managed identity in Azure). `client_options` go to
        the SDK client: timeouts and the retry policy (the SDK's defaults retry for over a minute
        before giving up)."""
        self._endpoint = StorageEndpoint(connection_string=storage) if isinstance(storage, str) else storage
        self._client_options = client_options
        self._service: QueueServiceClient | None = None
        self._created: set[str] = set()
        self._lock = threading.Lock()

    def _send_sync(self, queue: str, text: str) -> None:
        with self._lock:
            if self._service is None:
                e, options = self._endpoint, self._client_options
                self._service = (
                    QueueServiceClient.from_connection_string(e.connection_string, **options)
                    if e.connection_string is not None
                    else QueueServiceClient(e.account_url or "", credential=e.credential, **options)
                )
            service = self._service
        client = service.get_queue_client(queue)
        if queue not in self._created:
            with contextlib.suppress(ResourceExistsError):
                client.create_queue()
            self._created.add(queue)
        client.send_message(text)

    async def send(self, queue: str, body: dict[str, Any], message_id: str) -> None:
        try:
            await asyncio.to_thread(self._send_sync, queue, encode_message(body, message_id))
        except AzureError as exc:
            raise Unavailable(f"queue {queue}: {exc}") from exc

    async def aclose(self) -> None:
        if self._service is not None:
            self._service.close()
