"""Fixtures that run real ConfigDB node processes on free ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.configdb_cluster import LocalCluster


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[type[LocalCluster]]:
    started: list[LocalCluster] = []

    def make(**kwargs: object) -> LocalCluster:
        c = LocalCluster(base_dir=tmp_path / f"cluster{len(started)}", **kwargs)  # type: ignore[arg-type]
        started.append(c)
        c.start()
        return c

    yield make  # type: ignore[misc]
    for c in started:
        c.stop()


@pytest.fixture
def cluster(cluster_factory: type[LocalCluster]) -> LocalCluster:
    return cluster_factory()  # type: ignore[call-arg]
