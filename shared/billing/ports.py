"""Ports of the billing domain: where the carrier's rate deck comes from, and Blob storage as the
rates sync and the usage reports write it. Adapters implement them.

Plain blob reads go through `shared.ports.BlobReader`, the History DB through
`shared.history.ports.ReportingHistory`.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol


class DeckSource(Protocol):
    """The carrier's rate deck (`shared.adapters.rate_deck_source.RateDeckSource`: a file path or
    an HTTP(S) URL, `Settings.rates_source`).

    `location` names it for logs. `fetch` returns the whole deck and has no side effects; it raises
    `shared.errors.NotFoundError` when there is no deck there, and `shared.errors.Unavailable` for
    anything that may heal (connection errors, timeouts, other statuses).
    """

    location: str

    async def fetch(self) -> bytes: ...


class ConditionalBlobs(Protocol):
    """Small blobs written under conditions on their ETags, for documents several job instances may
    write at once (`shared.adapters.blob_documents.BlobDocuments`).

    `read` returns (content, etag), or None when the blob or its container does not exist.
    `write` with `etag=None` creates the blob only if it is absent; with an etag it replaces the
    blob only if it is still at that etag. It returns False when the condition failed (another
    writer got there first, or the blob was deleted meanwhile): nothing was written. Both raise
    `shared.errors.Unavailable` when storage cannot be reached.
    """

    async def read(self, container: str, name: str) -> tuple[bytes, str] | None: ...

    async def write(
        self, container: str, name: str, data: bytes, *, etag: str | None, content_type: str = ...
    ) -> bool: ...


class ReportBlobs(Protocol):
    """Blob storage as the usage reports use it (`shared.adapters.blob_media.BlobMedia`): write a
    report file, and hand out a read-only link to it.

    `upload` overwrites (idempotent for the same content) and creates the container on first use;
    `read_url` signs locally (under a managed identity it asks for a signing key at most every 12
    hours) and gives a URL valid until `now + ttl`. Both raise `shared.errors.Unavailable` when
    storage cannot be reached (or, from `read_url`, when there is no key to sign with).
    """

    async def upload(self, container: str, name: str, data: bytes, content_type: str) -> None: ...

    def read_url(self, container: str, name: str, *, now: dt.datetime, ttl: dt.timedelta) -> str: ...
