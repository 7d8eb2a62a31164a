"""Ports every domain uses: the clock, the message bus and its dead letters, the typed-document
repository and Blob reads and writes. Adapters implement them.

Each domain keeps its own ports in `shared/<domain>/ports.py`.

Services never import an SDK; they receive these and are tested with the real adapters
(integration) or, only where nothing real fits (time, a recording bus), small fakes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from shared.documents import IndexChanges, Versioned

M = TypeVar("M", bound=BaseModel)


class MessageBus(Protocol):
    """Puts work on a named queue (Service Bus in Azure, an Azurite Storage queue locally).

    Delivery is at-least-once: a consumer may see a message twice, so `message_id` is the
    idempotency key the consumer keeps. `body` must be JSON-serialisable. Raises
    `shared.errors.Unavailable` when the queue service cannot be reached; the message is
    then not queued and the caller decides whether to retry.
    """

    async def send(self, queue: str, body: dict[str, Any], message_id: str) -> None: ...


@dataclass(frozen=True)
class DeadLetter:
    """A message its consumer gave up on, as the dead-letter store holds it.

    `id` names it in its store (a Storage queue message id, or a Service Bus sequence number);
    `body` is the original message text, replayed as it was; `reason` is the short stable code
    (`schema-violation`, `rejected`, `max-deliveries`, `undecodable`) and `description` the text.
    """

    id: str
    queue: str
    message_id: str | None
    reason: str | None
    description: str | None
    delivery_count: int | None
    dead_lettered_at: dt.datetime | None
    body: str
    body_truncated: bool = False


class DeadLetters(Protocol):
    """The dead letters of the queues: Service Bus dead-letter sub-queues in Azure, the
    `<queue>-poison` Storage queues locally. Raises `shared.errors.Unavailable` when the store
    cannot be reached."""

    async def list(self, queue: str, limit: int) -> tuple[list[DeadLetter], int | None]:
        """Up to `limit` dead letters of `queue`, oldest first, without taking them; and how
        many there are in all when the store says (None when it does not)."""
        ...

    async def replay(self, queue: str, one: str | None) -> tuple[list[DeadLetter], list[DeadLetter]]:
        """Send the original body of each dead letter (or only of the one with id `one`) back to
        `queue` as a new message, then remove it from the dead letters. Returns the replayed
        ones and the ones kept because only a truncated body was stored; an unknown
        `one` returns two empty lists."""
        ...


class DocumentRepo(Protocol):
    """Typed documents under keys (the ConfigDB), with their index keys kept in the same transaction.

    A document is a pydantic model stored as JSON; `Versioned.revision` is its key's revision,
    which `update` and `delete` compare (optimistic concurrency). Index claims (`IndexChanges.claim`,
    e.g. `idx/number/{e164}`) must be absent and are written in the same transaction as the
    document, so an index never points at nothing and a claim is never held twice.

    Errors: `shared.errors.Unavailable` when the store cannot be reached (nothing was written);
    `ConflictError` naming the key when a create finds the document or a claim taken;
    `PreconditionFailed` (with the current revision) when the document changed since it was read;
    `NotFoundError` from `require`, and from `update` / `delete` of a document that is gone;
    `ConflictError` naming an `IndexChanges.expect` key that changed since it was read. A
    write either happens whole or not at all, so retrying after `Unavailable` is safe: a create
    that did land meanwhile answers `ConflictError`, an update `PreconditionFailed`.
    """

    async def get(self, key: str, model: type[M]) -> Versioned[M] | None:
        """The document under `key`, validated as `model`; None when there is none."""
        ...

    async def require(self, key: str, model: type[M], what: str) -> Versioned[M]:
        """Like `get`, but `NotFoundError(what)` when there is none."""
        ...

    async def raw(self, key: str) -> Any | None:
        """The JSON value under `key` as stored (a marker key: no model, no revision); None if absent."""
        ...

    async def list(self, prefix: str, model: type[M]) -> list[Versioned[M]]:
        """Every document whose key starts with `prefix`, in key order."""
        ...

    def scan(self, prefix: str, model: type[M]) -> AsyncIterator[Versioned[M]]:
        """Every document whose key starts with `prefix`, in key order, read page by page (the
        caller may stop early)."""
        ...

    def scan_raw(self, prefix: str) -> AsyncIterator[tuple[str, Any]]:
        """Every (key, JSON value as stored) under `prefix`, in key order, page by page."""
        ...

    async def create(self, key: str, doc: BaseModel, index: IndexChanges | None = None) -> int:
        """Write a new document and its index changes atomically; returns the new revision."""
        ...

    async def update(
        self, key: str, doc: BaseModel, expected_revision: int, index: IndexChanges | None = None
    ) -> int:
        """Replace a document read at `expected_revision` (and apply the index changes atomically);
        returns the new revision."""
        ...

    async def delete(
        self,
        key: str,
        expected_revision: int,
        release: list[str] | None = None,
        index: IndexChanges | None = None,
    ) -> int:
        """Delete a document read at `expected_revision` and the index keys in `release`, and apply
        `index` (puts compared by `expect`), atomically; returns the store's revision after the delete."""
        ...

    async def create_many(self, docs: dict[str, BaseModel]) -> int:
        """Write new documents that must all be absent, in one transaction (all or none);
        `ConflictError` names one that exists. Returns the new revision."""
        ...


class BlobReader(Protocol):
    """Reads whole blobs (Azure Blob storage; Azurite locally).

    Raises `shared.errors.NotFoundError` when the blob does not exist and
    `shared.errors.Unavailable` when storage cannot be reached. Reading has no side effects.
    """

    async def download(self, container: str, name: str) -> bytes: ...


class BlobWriter(Protocol):
    """Writes whole blobs (Azure Blob storage; Azurite locally), creating the container on first use.

    Idempotent: a blob written again with the same name is overwritten. Raises
    `shared.errors.Unavailable` when storage cannot be reached (the blob may or may not have
    been written; writing it again is safe).
    """

    async def upload(self, container: str, name: str, data: bytes, content_type: str) -> None: ...


class Clock(Protocol):
    """Wall-clock time. `now()` is an aware UTC datetime."""

    def now(self) -> dt.datetime: ...


class SystemClock:
    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)
