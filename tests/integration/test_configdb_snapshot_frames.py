"""Snapshot frames are cut by bytes: an image of many large values streams in several frames,
each under the node's 1 MiB frame size (or one item when that item alone is larger), and the
real client reassembles it. Against a real 3-node shard: 18 MB in one frame would exceed the
clients' 16 MiB frame limit."""

from __future__ import annotations

import struct

import orjson

from configdb_nodes.stream import SNAPSHOT_FRAME_BYTES
from infra.local.configdb_cluster import LocalCluster
from shared.configdb import ConfigDBClient
from shared.configdb.frames import MAX_SERVER_FRAME

from .streamwire import StreamConn

VALUE_BYTES = 900 * 1024
COUNT = 20  # 18 MB in all


def big_value(i: int) -> dict[str, object]:
    return {"i": i, "blob": f"{i:02d}" * (VALUE_BYTES // 2)}


def test_a_snapshot_of_many_large_values_streams_in_capped_frames(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    with ConfigDBClient(cluster.endpoints, cluster.token) as db:
        for i in range(COUNT):
            db.put(f"big/{i:03d}", big_value(i))
        for i in range(50):
            db.put(f"big/small/{i:03d}", {"i": i})

    conn = StreamConn(
        cluster.nodes[1].stream_port, {"token": cluster.token, "op": "snapshot", "prefix": "big/"}
    )
    sizes: list[int] = []
    keys: list[str] = []
    try:
        while True:
            (size,) = struct.unpack(">I", conn._exact(4))
            frame = orjson.loads(conn._exact(size))
            if frame["type"] == "snapshot_end":
                break
            assert frame["type"] == "snapshot", frame
            sizes.append(size)
            keys += [item["key"] for item in frame["items"]]
            largest_item = max(len(orjson.dumps(item)) for item in frame["items"])
            assert size <= max(SNAPSHOT_FRAME_BYTES, largest_item) + 64, (size, len(frame["items"]))
    finally:
        conn.close()
    assert len(sizes) >= COUNT // 2 and max(sizes) < MAX_SERVER_FRAME
    assert len(keys) == COUNT + 50 and keys == sorted(keys)

    with ConfigDBClient([cluster.nodes[2].http], cluster.token) as db:
        items, revision = db.snapshot("big/")
    assert revision >= COUNT + 50
    assert [kv.key for kv in items] == keys
    by_key = {kv.key: kv.value for kv in items}
    assert all(by_key[f"big/{i:03d}"] == big_value(i) for i in range(COUNT))
