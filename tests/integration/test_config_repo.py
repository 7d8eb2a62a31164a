"""Typed documents with atomic uniqueness claims over a real ConfigDB shard."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from infra.local.configdb_cluster import LocalCluster
from shared.adapters.config_repo import ConfigRepo
from shared.configdb import AsyncConfigDBClient
from shared.documents import IndexChanges
from shared.errors import ConflictError, NotFoundError, PreconditionFailed


class Doc(BaseModel):
    name: str
    number: str


def test_claims_versions_and_conflicts(cluster: LocalCluster) -> None:
    cluster.wait_healthy()

    async def scenario() -> None:
        async with AsyncConfigDBClient(cluster.endpoints, cluster.token) as db:
            repo = ConfigRepo(db)
            rev = await repo.create(
                "t/a/number/1", Doc(name="x", number="+1555"), IndexChanges(claim={"idx/number/+1555": "a"})
            )
            got = await repo.get("t/a/number/1", Doc)
            assert got is not None and got.revision == rev and got.doc.name == "x"
            # another tenant cannot take the same number; the clash names the index key
            with pytest.raises(ConflictError) as clash:
                await repo.create(
                    "t/b/number/1",
                    Doc(name="y", number="+1555"),
                    IndexChanges(claim={"idx/number/+1555": "b"}),
                )
            assert clash.value.key == "idx/number/+1555"
            assert await repo.get("t/b/number/1", Doc) is None  # nothing half-written
            # optimistic concurrency
            rev2 = await repo.update("t/a/number/1", Doc(name="x2", number="+1555"), rev)
            with pytest.raises(PreconditionFailed) as stale:
                await repo.update("t/a/number/1", Doc(name="x3", number="+1555"), rev)
            assert stale.value.current_revision == rev2
            await repo.delete("t/a/number/1", rev2, release=["idx/number/+1555"])
            assert await repo.raw("idx/number/+1555") is None
            with pytest.raises(NotFoundError):
                await repo.require("t/a/number/1", Doc, "number")
            assert [v.doc.name for v in await repo.list("t/a/", Doc)] == []

    asyncio.run(scenario())
