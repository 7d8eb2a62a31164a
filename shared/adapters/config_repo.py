"""Typed documents in the ConfigDB, with their indexes kept in the same transaction:
`ConfigRepo` implements the `shared.ports.DocumentRepo` port.

A document is a pydantic model stored as JSON under one key. Its ETag is the key's
revision, so updates can be conditional (`If-Match`). Uniqueness claims (global indexes
such as `idx/number/{e164}`, per-tenant ones such as extensions) are compared as absent
and written in the same transaction as the document, so an index never points at
nothing and two tenants can never hold the same claim.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, TypeVar

from pydantic import BaseModel

from shared.configdb import AsyncConfigDBClient, Compare, ConfigDBUnavailable, Op
from shared.documents import IndexChanges, Versioned
from shared.errors import ConflictError, NotFoundError, PreconditionFailed, Unavailable

M = TypeVar("M", bound=BaseModel)


def _dump(doc: BaseModel) -> Any:
    return doc.model_dump(mode="json")


class ConfigRepo:
    """`shared.ports.DocumentRepo` over the ConfigDB client."""

    def __init__(self, db: AsyncConfigDBClient) -> None:
        self.db = db

    async def get(self, key: str, model: type[M]) -> Versioned[M] | None:
        try:
            kv = await self.db.get_or_none(key)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return None if kv is None else Versioned(model.model_validate(kv.value), kv.revision)

    async def require(self, key: str, model: type[M], what: str) -> Versioned[M]:
        got = await self.get(key, model)
        if got is None:
            raise NotFoundError(what)
        return got

    async def raw(self, key: str) -> Any | None:
        try:
            kv = await self.db.get_or_none(key)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return None if kv is None else kv.value

    async def list(self, prefix: str, model: type[M]) -> list[Versioned[M]]:
        try:
            return [
                Versioned(model.model_validate(kv.value), kv.revision)
                async for kv in self.db.iter_prefix(prefix)
            ]
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    async def scan(self, prefix: str, model: type[M]) -> AsyncIterator[Versioned[M]]:
        try:
            async for kv in self.db.iter_prefix(prefix, page_size=500):
                yield Versioned(model.model_validate(kv.value), kv.revision)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    async def scan_raw(self, prefix: str) -> AsyncIterator[tuple[str, Any]]:
        try:
            async for kv in self.db.iter_prefix(prefix, page_size=500):
                yield kv.key, kv.value
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc

    async def create(self, key: str, doc: BaseModel, index: IndexChanges | None = None) -> int:
        """Write a new document and its claims atomically; ConflictError names the taken key."""
        index = index or IndexChanges()
        return await self._commit(key, 0, doc, index)

    async def update(
        self, key: str, doc: BaseModel, expected_revision: int, index: IndexChanges | None = None
    ) -> int:
        """Replace a document read at `expected_revision`; PreconditionFailed if it changed since."""
        return await self._commit(key, expected_revision, doc, index or IndexChanges())

    async def delete(
        self,
        key: str,
        expected_revision: int,
        release: list[str] | None = None,
        index: IndexChanges | None = None,
    ) -> int:
        index = index or IndexChanges()
        compare = [Compare(key, expected_revision), *(Compare(k, r) for k, r in index.expect.items())]
        ops = [
            Op.delete(key),
            *(Op.delete(k) for k in [*(release or []), *index.release]),
            *(Op.put(k, v) for k, v in index.put.items()),
        ]
        ok, revision = await self._txn(compare, ops)
        if not ok:
            await self._explain_failure(key, expected_revision, {}, index.expect)
        return revision

    async def create_many(self, docs: dict[str, BaseModel]) -> int:
        ok, revision = await self._txn(
            [Compare(k, 0) for k in docs], [Op.put(k, _dump(doc)) for k, doc in docs.items()]
        )
        if not ok:
            for k in docs:
                if await self.db.get_or_none(k) is not None:
                    raise ConflictError(k)
            raise ConflictError(next(iter(docs)))
        return revision

    async def _commit(self, key: str, expected: int, doc: BaseModel, index: IndexChanges) -> int:
        compare = [
            Compare(key, expected),
            *(Compare(k, 0) for k in index.claim),
            *(Compare(k, r) for k, r in index.expect.items()),
        ]
        ops = [
            Op.put(key, _dump(doc)),
            *(Op.put(k, v) for k, v in index.claim.items()),
            *(Op.put(k, v) for k, v in index.put.items()),
            *(Op.delete(k) for k in index.release),
        ]
        ok, revision = await self._txn(compare, ops)
        if not ok:
            await self._explain_failure(key, expected, index.claim, index.expect)
        return revision

    async def _txn(self, compare: list[Compare], ops: list[Op]) -> tuple[bool, int]:
        try:
            result = await self.db.txn(compare, ops)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return result.succeeded, result.revision

    async def _explain_failure(
        self, key: str, expected: int, claims: dict[str, Any], expect: dict[str, int] | None = None
    ) -> None:
        for claim in claims:
            if await self.db.get_or_none(claim) is not None:
                raise ConflictError(claim)
        for other, revision in (expect or {}).items():
            current_other = await self.db.get_or_none(other)
            if (0 if current_other is None else current_other.revision) != revision:
                raise ConflictError(other)
        current = await self.db.get_or_none(key)
        current_rev = 0 if current is None else current.revision
        if expected == 0:
            raise ConflictError(key)
        if current is None:
            raise NotFoundError(key)
        raise PreconditionFailed(key, current_rev)
