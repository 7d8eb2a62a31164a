"""Blob storage over azure-storage-blob: prompts, voicemail, recordings, reports and rates.

The SDK is synchronous; every call runs in a worker thread so the event loop never blocks.
SDK errors become domain errors at this boundary:

- a missing blob or container -> `NotFoundError`,
- anything else the service or transport raises -> `Unavailable` (retry later).

`read_url` signs a read-only SAS for one blob with an explicit expiry, using the account
key of the connection string (Azurite's well-known key locally). Clients fetch audio from
that URL directly; Blob storage serves Range requests on it. The SAS carries `spr=https`
whenever the blob endpoint is https (every Azure account), so the token is refused over plain
http even if a link is rewritten; only an http endpoint (Azurite locally, which serves http
only) signs `spr=https,http`, since a https-only token could not be used there at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions, BlobServiceClient, ContentSettings, generate_blob_sas

from shared.errors import NotFoundError, Unavailable

T = TypeVar("T")


def sas_protocol(url: str) -> str:
    """`https` for a https endpoint; `https,http` only for an http one (Azurite locally)."""
    return "https" if url.lower().startswith("https://") else "https,http"


class BlobMedia:
    def __init__(self, connection_string: str, **client_options: Any) -> None:
        """`client_options` go to the SDK client, e.g. ``retry_total=0`` for a caller that
        retries on its own (the SDK's default retries take over a minute to give up)."""
        self.service = BlobServiceClient.from_connection_string(connection_string, **client_options)
        credential = self.service.credential
        self._account_name: str = self.service.account_name or ""
        self._account_key: str | None = getattr(credential, "account_key", None)
        self._ensured: set[str] = set()

    async def run(self, what: str, fn: Callable[[], T]) -> T:
        """Run a blocking SDK call in a thread; SDK errors become NotFoundError / Unavailable."""
        try:
            return await asyncio.to_thread(fn)
        except ResourceNotFoundError as exc:
            raise NotFoundError(what) from exc
        except AzureError as exc:
            raise Unavailable(f"blob storage: {type(exc).__name__}: {exc}") from exc

    def ensure_container(self, container: str) -> None:
        """Create `container` once per client (blocking; call from inside `run`)."""
        if container in self._ensured:
            return
        with contextlib.suppress(ResourceExistsError):
            self.service.get_container_client(container).create_container()
        self._ensured.add(container)

    async def upload(self, container: str, name: str, data: bytes, content_type: str) -> None:
        """Write (or overwrite) one blob, creating the container on first use."""

        def put() -> None:
            self.ensure_container(container)
            self.service.get_blob_client(container, name).upload_blob(
                data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
            )

        await self.run(f"blob {container}/{name}", put)

    async def download(self, container: str, name: str) -> bytes:
        """The whole blob; NotFoundError when it does not exist."""
        client = self.service.get_blob_client(container, name)
        return await self.run(f"blob {container}/{name}", lambda: client.download_blob().readall())

    async def exists(self, container: str, name: str) -> bool:
        client = self.service.get_blob_client(container, name)
        return await self.run(f"blob {container}/{name}", client.exists)

    async def delete(self, container: str, name: str) -> bool:
        """Delete one blob (with its snapshots); False when it was already gone (idempotent)."""

        def delete_one() -> bool:
            try:
                self.service.get_blob_client(container, name).delete_blob(delete_snapshots="include")
            except ResourceNotFoundError:
                return False
            return True

        return await self.run(f"blob {container}/{name}", delete_one)

    async def delete_prefix(self, container: str, prefix: str) -> int:
        """Delete every blob under `prefix` (idempotent); returns how many were deleted."""

        def delete_all() -> int:
            client = self.service.get_container_client(container)
            deleted = 0
            try:
                names = [b.name for b in client.list_blobs(name_starts_with=prefix)]
            except ResourceNotFoundError:
                return 0
            for name in names:
                with contextlib.suppress(ResourceNotFoundError):
                    client.delete_blob(name, delete_snapshots="include")
                    deleted += 1
            return deleted

        return await self.run(f"container {container}", delete_all)

    def read_url(self, container: str, name: str, *, now: dt.datetime, ttl: dt.timedelta) -> str:
        """A read-only SAS URL for one blob, valid from one minute before `now` (clock skew)
        until `now + ttl`. Pure: signs locally, no request is made."""
        if self._account_key is None:
            raise Unavailable("blob storage: the connection string carries no account key to sign with")
        url = self.service.get_blob_client(container, name).url
        sas = generate_blob_sas(
            account_name=self._account_name,
            container_name=container,
            blob_name=name,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            start=now - dt.timedelta(minutes=1),
            expiry=now + ttl,
            protocol=sas_protocol(url),
        )
        return f"{url}?{sas}"

    def close(self) -> None:
        self.service.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.service.close)
