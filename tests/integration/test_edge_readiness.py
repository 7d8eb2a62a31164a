"""The edge's readiness over a real 3-node ConfigDB: ready while its watch hears from the nodes
(progress frames even when idle), not ready within seconds once every node is gone."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from shared.configdb import AsyncConfigDBClient
from sip_edge.config_sync import ConfigSync
from sip_edge.directory import TenantDirectory
from sip_edge.probes import EdgeReadiness


def test_config_readiness_follows_the_watch(cluster_factory: Any) -> None:
    cluster = cluster_factory()
    cluster.wait_healthy()

    async def run() -> None:
        async with AsyncConfigDBClient(cluster.endpoints, cluster.token, timeout=1.0) as db:
            sync = ConfigSync(db, TenantDirectory(), backoff=(0.1, 0.5))
            ready = EdgeReadiness(lambda: True, sync, lambda: False)
            assert sync.watch_problem() == "the ConfigDB snapshot is not loaded"
            await sync.start()
            try:
                assert ready() == {"sip": None, "config": None, "draining": None}
                # Idle for twice the silence allowed: the nodes' progress frames keep it live.
                for _ in range(30):
                    assert sync.watch_problem(max_silence=1.5) is None
                    await asyncio.sleep(0.1)
                for node in cluster.nodes:
                    cluster.kill(node)
                gone = time.monotonic()
                while (problem := sync.watch_problem(max_silence=1.5)) is None:
                    assert time.monotonic() - gone < 5, "still ready with every node gone"
                    await asyncio.sleep(0.05)
                assert "no word from ConfigDB" in problem
            finally:
                await sync.stop()

    asyncio.run(run())
