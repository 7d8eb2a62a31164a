"""Run ``blobTrigger`` functions once per new or changed blob (polling; receipts survive restarts)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContainerClient

from functions.devhost.bindings import FunctionSpec, parse_blob_path
from functions.devhost.invoker import EventLog, Invoker
from functions.devhost.messages import input_stream
from functions.devhost.receipts import ReceiptStore


@dataclass(frozen=True)
class BlobOptions:
    poll_interval: float = 1.0
    max_attempts: int = 5


def ensure_container(client: ContainerClient) -> None:
    with contextlib.suppress(ResourceExistsError):
        client.create_container()


async def invoke_for_blob(
    spec: FunctionSpec, invoker: Invoker, service: BlobServiceClient, container: str, blob_name: str
) -> None:
    """Download ``container/blob_name`` and run ``spec`` on it (used by the poller and the admin API)."""
    client = service.get_blob_client(container, blob_name)
    data = await asyncio.to_thread(lambda: client.download_blob().readall())
    stream = input_stream(container, blob_name, data, client.url)
    groups = parse_blob_path(str(spec.setting("path"))).match(blob_name) or {"name": blob_name}
    metadata = {**groups, "BlobTrigger": f"{container}/{blob_name}", "Uri": client.url}
    await invoker.invoke(spec, stream, metadata, blob=f"{container}/{blob_name}")


class BlobRunner:
    def __init__(
        self,
        spec: FunctionSpec,
        invoker: Invoker,
        events: EventLog,
        service: BlobServiceClient,
        receipts: ReceiptStore,
        options: BlobOptions,
    ) -> None:
        self.spec = spec
        self.invoker = invoker
        self.events = events
        self.service = service
        self.receipts = receipts
        self.options = options
        self.pattern = parse_blob_path(str(spec.setting("path")))
        self.container = service.get_container_client(self.pattern.container)
        self._failures: dict[tuple[str, str], int] = {}

    async def run(self) -> None:
        await asyncio.to_thread(ensure_container, self.container)
        while True:
            try:
                await self.scan()
            except ResourceNotFoundError:
                await asyncio.to_thread(ensure_container, self.container)
            except Exception as exc:
                self.events.emit("blob_scan_error", function=self.spec.name, error=str(exc))
            await asyncio.sleep(self.options.poll_interval)

    async def scan(self) -> None:
        def listing() -> list[tuple[str, str]]:
            blobs = self.container.list_blobs(name_starts_with=self.pattern.prefix or None)
            return [(b.name, str(b.etag)) for b in blobs]

        for name, etag in await asyncio.to_thread(listing):
            if self.pattern.match(name) is None or self.receipts.has(self.spec.name, name, etag):
                continue
            await self._process(name, etag)

    async def _process(self, name: str, etag: str) -> None:
        key = (name, etag)
        try:
            await invoke_for_blob(self.spec, self.invoker, self.service, self.pattern.container, name)
        except ResourceNotFoundError:
            return  # deleted between listing and download
        except Exception as exc:
            attempts = self._failures.get(key, 0) + 1
            self._failures[key] = attempts
            if attempts >= self.options.max_attempts:
                self._failures.pop(key, None)
                self.receipts.add(self.spec.name, name, etag, "poison")
                self.events.emit(
                    "poison",
                    function=self.spec.name,
                    blob=f"{self.pattern.container}/{name}",
                    etag=etag,
                    attempts=attempts,
                    reason=f"{type(exc).__name__}: {exc}",
                )
            return
        self._failures.pop(key, None)
        self.receipts.add(self.spec.name, name, etag, "ok")
