"""Where tenants and numbers live: regions, shards and their nodes (pure).

The topology file is JSON:

    {"regions": {
        "weu": {"number_prefixes": ["+44", "+33"],
                "shards": {"weu-1": {"nodes": [{"node_id": "n1", "http": "http://...", "stream": "tcp://..."}]}}},
        "eus": {...}},
     "default_region": "weu"}

A tenant's home region is what the index key `idx/tenant/{id}` records (`{"region": ...}`)
when present, else the region of the shard answering. Inside a region a tenant's shard is
chosen by rendezvous hashing over the region's shard ids, so adding a shard moves only the
tenants it wins. A number resolves through `idx/number/{e164}` to its tenant.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from pydantic import BaseModel, Field


class NodeRef(BaseModel):
    node_id: str
    http: str
    stream: str


class ShardSpec(BaseModel):
    nodes: list[NodeRef]


class RegionSpec(BaseModel):
    number_prefixes: list[str] = Field(default_factory=list)
    shards: dict[str, ShardSpec]


class Topology(BaseModel):
    regions: dict[str, RegionSpec]
    default_region: str | None = None

    @classmethod
    def load(cls, path: str) -> Topology:
        return cls.model_validate(json.loads(Path(path).read_text()))

    def locate_node(self, node_id: str) -> tuple[str, str] | None:
        for region, spec in self.regions.items():
            for shard, sspec in spec.shards.items():
                if any(n.node_id == node_id for n in sspec.nodes):
                    return region, shard
        return None

    def shard_for_tenant(self, region: str, tenant_id: str) -> str:
        shards = sorted(self.regions[region].shards)
        return max(shards, key=lambda s: hashlib.sha256(f"{s}|{tenant_id}".encode()).digest())

    def placement(self, region: str, tenant_id: str) -> dict[str, object]:
        shard = self.shard_for_tenant(region, tenant_id)
        nodes = self.regions[region].shards[shard].nodes
        return {"region": region, "shard": shard, "nodes": [n.model_dump() for n in nodes]}
