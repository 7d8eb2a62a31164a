"""Small blobs written with conditions (ETags), for documents several job instances may write at
once: create-only (`If-None-Match: *`) and compare-and-swap (`If-Match: <etag>`).

Built on a `BlobMedia`'s service client (same connection, same error mapping): a missing blob
reads as None, a failed condition returns False, anything else the service raises is
`Unavailable`.
"""

from __future__ import annotations

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.storage.blob import ContentSettings

from shared.adapters.blob_media import BlobMedia


class BlobDocuments:
    def __init__(self, media: BlobMedia) -> None:
        self.media = media
        self.service = media.service

    async def read(self, container: str, name: str) -> tuple[bytes, str] | None:
        """(content, etag), or None when the blob (or its container) does not exist."""

        def get() -> tuple[bytes, str] | None:
            try:
                stream = self.service.get_blob_client(container, name).download_blob()
            except ResourceNotFoundError:
                return None
            return stream.readall(), str(stream.properties.etag)

        return await self.media.run(f"blob {container}/{name}", get)

    async def write(
        self,
        container: str,
        name: str,
        data: bytes,
        *,
        etag: str | None,
        content_type: str = "application/json",
    ) -> bool:
        """Create the blob (`etag` None: only if absent) or replace it (only if still at `etag`).
        False when the condition failed: another writer got there first."""

        def put() -> bool:
            self.media.ensure_container(container)
            client = self.service.get_blob_client(container, name)
            settings = ContentSettings(content_type=content_type)
            try:
                if etag is None:
                    client.upload_blob(data, overwrite=False, content_settings=settings)
                else:
                    client.upload_blob(
                        data,
                        overwrite=True,
                        content_settings=settings,
                        etag=etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceExistsError, ResourceModifiedError):
                return False
            except ResourceNotFoundError:
                return False  # replaced blob deleted meanwhile
            return True

        return await self.media.run(f"blob {container}/{name}", put)
