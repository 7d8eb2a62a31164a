"""Ports of the directory domain. Adapters implement them.

The directory's documents go through `shared.ports.DocumentRepo`; this module holds what only
the directory uses.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class PromptBlobs(Protocol):
    """Blob storage as the prompts service uses it (`shared.adapters.blob_media.BlobMedia`):
    a prompt's original upload and its converted audio, under `{tenant}/{prompt_id}/`.

    `upload` writes or overwrites one blob (idempotent for the same content) and creates the
    container on first use. `download` raises `shared.errors.NotFoundError` for a missing blob.
    `delete_prefix` deletes every blob under the prefix and returns how many; idempotent (0 when
    nothing is left). `read_url` signs locally (under a managed identity it asks for a signing key
    at most every 12 hours): a read-only URL valid until `now + ttl`. Every method raises
    `shared.errors.Unavailable` when storage cannot be reached (from `read_url`: when there is no
    key to sign with).
    """

    async def upload(self, container: str, name: str, data: bytes, content_type: str) -> None: ...
    async def download(self, container: str, name: str) -> bytes: ...
    async def delete_prefix(self, container: str, prefix: str) -> int: ...
    def read_url(self, container: str, name: str, *, now: dt.datetime, ttl: dt.timedelta) -> str: ...
