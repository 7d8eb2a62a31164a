"""Ports of the lifecycle domain: the marketing system, and the History DB and Blob storage as
the tenants cleaner erases them. Adapters implement them."""

from __future__ import annotations

from typing import Protocol

from shared.lifecycle.models import MarketingContact


class MarketingSink(Protocol):
    """The marketing system (a CRM / mailing-list API behind it; locally a JSON-lines recorder).

    `message_id` is the idempotency key: the same contact revision sent twice is stored once.
    Raises `shared.errors.Unavailable` on a transient failure (the run keeps its cursor and the
    next run sends again)."""

    async def send(self, contact: MarketingContact, message_id: str) -> None: ...


class HistoryEraser(Protocol):
    """Erases a tenant from the History DB (`AsyncHistoryStore.delete_tenant`).

    Deletes the tenant's calls, activities and daily stats in small batches and returns how
    many documents went per collection. Idempotent: safe to repeat after a crash midway (a
    repeat counts only what was left). Raises `shared.errors.Unavailable` when the store cannot
    be reached.
    """

    async def delete_tenant(self, tenant_id: str) -> dict[str, int]: ...


class BlobEraser(Protocol):
    """Erases blobs by name prefix (`shared.adapters.blob_media.BlobMedia.delete_prefix`).

    Deletes every blob of `container` whose name starts with `prefix` and returns how many were
    deleted. Idempotent: a missing container or nothing left under the prefix deletes 0. Raises
    `shared.errors.Unavailable` when storage cannot be reached (some blobs may be gone already;
    repeating is safe).
    """

    async def delete_prefix(self, container: str, prefix: str) -> int: ...
