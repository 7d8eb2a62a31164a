"""Blob storage over azure-storage-blob: prompts, voicemail, recordings, reports and rates.

The SDK is synchronous; every call runs in a worker thread so the event loop never blocks.
SDK errors become domain errors at this boundary:

- a missing blob or container -> `NotFoundError`,
- anything else the service or transport raises -> `Unavailable` (retry later).

The client is built from a `StorageEndpoint` (shared/adapters/azure_credentials.py): Azurite's
connection string locally, the blob service URL with the process's managed identity in Azure
(a plain connection string is accepted too, as tests and tools pass one).

`read_url` signs a read-only SAS for one blob with an explicit expiry (shared/adapters/blob_sas.py):
with the account key of the connection string (Azurite's well-known key locally), or under the
identity with a user delegation key, one per process and account, renewed every 12 hours.
Clients fetch audio from that URL directly; Blob storage serves Range requests on it. The SAS
carries `spr=https` whenever the blob endpoint is https (every Azure account), so the token is
refused over plain http even if a link is rewritten; only an http endpoint (Azurite locally,
which serves http only) signs `spr=https,http`, since a https-only token could not be used there
at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient, ContentSettings

from shared.adapters.azure_credentials import StorageEndpoint
from shared.adapters.blob_sas import AccountKeySigner, BlobSigner, UserDelegationSigner
from shared.errors import NotFoundError, Unavailable

T = TypeVar("T")


def sas_protocol(url: str) -> str:
    """`https` for a https endpoint; `https,http` only for an http one (Azurite locally)."""
    return "https" if url.lower().startswith("https://") else "https,http"


_delegation_signers: dict[str, UserDelegationSigner] = {}
_delegation_lock = threading.Lock()


def delegation_signer(endpoint: StorageEndpoint, **client_options: Any) -> UserDelegationSigner:
    """The process's user-delegation signer for this account: one key serves every `BlobMedia`
    (a Functions invocation makes its own), asked for by a client of its own that lives as long."""
    assert endpoint.account_url is not None and endpoint.credential is not None
    with _delegation_lock:
        signer = _delegation_signers.get(endpoint.account_url)
        if signer is None:
            keys = BlobServiceClient(endpoint.account_url, credential=endpoint.credential, **client_options)
            signer = UserDelegationSigner(keys.account_name or "", keys.get_user_delegation_key)
            _delegation_signers[endpoint.account_url] = signer
        return signer


class BlobMedia:
    def __init__(self, storage: str | StorageEndpoint, **client_options: Any) -> None:
        """`storage`: a connection string or a `StorageEndpoint`. `client_options` go to the SDK
        client, e.g. ``retry_total=0`` for a caller that retries on its own (the SDK's default
        retries take over a minute to give up)."""
        endpoint = StorageEndpoint(connection_string=storage) if isinstance(storage, str) else storage
        self._signer: BlobSigner | None = None
        if endpoint.connection_string is not None:
            self.service = BlobServiceClient.from_connection_string(
                endpoint.connection_string, **client_options
            )
            account_key = getattr(self.service.credential, "account_key", None)
            if account_key:
                self._signer = AccountKeySigner(self.service.account_name or "", account_key)
        else:
            self.service = BlobServiceClient(
                endpoint.account_url or "", credential=endpoint.credential, **client_options
            )
            self._signer = delegation_signer(endpoint, **client_options)
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
        until `now + ttl`. Signs locally; under an identity, the user delegation key is asked for
        when there is none yet or it is due for renewal (`Unavailable` if that fails)."""
        if self._signer is None:
            raise Unavailable("blob storage: the connection string carries no account key to sign with")
        url = self.service.get_blob_client(container, name).url
        sas = self._signer.sign(
            container, name, start=now - dt.timedelta(minutes=1), expiry=now + ttl, protocol=sas_protocol(url)
        )
        return f"{url}?{sas}"

    def close(self) -> None:
        self.service.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.service.close)
