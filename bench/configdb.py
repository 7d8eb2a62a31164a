"""ConfigDB benchmark: 3 real nodes on this machine; prints one table of medians and tails.

    .venv/bin/python bench/configdb.py [--quick]

Figures are for the table, not assertions: this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.etcd_cluster import EtcdCluster, b64
from bench.rawhttp import RawHttp
from infra.local.configdb_cluster import LocalCluster

_LEN = struct.Struct(">I")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


VALUE = {"v": "x" * 180}


class Target:
    """How to write and read one key over HTTP: ours, or etcd's JSON gateway."""

    def __init__(self, port: int, token: str, etcd: bool = False) -> None:
        self.port, self.token, self.etcd = port, token, etcd

    def conn(self) -> RawHttp:
        return RawHttp("127.0.0.1", self.port, self.token)

    def put(self, key: str) -> tuple[str, str, bytes]:
        if self.etcd:
            return (
                "POST",
                "/v3/kv/put",
                orjson.dumps({"key": b64(key), "value": b64(orjson.dumps(VALUE).decode())}),
            )
        return "PUT", f"/v1/kv/{key}", orjson.dumps(VALUE)

    def get(self, key: str) -> tuple[str, str, bytes]:
        if self.etcd:
            return "POST", "/v3/kv/range", orjson.dumps({"key": b64(key), "serializable": True})
        return "GET", f"/v1/kv/{key}", b""


async def seq_writes(target: Target, n: int) -> dict[str, float]:
    c = target.conn()
    await c.connect()
    lat = []
    for i in range(n):
        t = time.perf_counter()
        status, _ = await c.request(*target.put(f"bench/seq/{i}"))
        lat.append((time.perf_counter() - t) * 1000)
        assert status == 200
    await c.close()
    return {"p50": statistics.median(lat), "p99": pct(lat, 99)}


async def concurrent_writes(target: Target, clients: int, seconds: float) -> float:
    conns = [target.conn() for _ in range(clients)]
    for c in conns:
        await c.connect()
    done = 0
    deadline = time.perf_counter() + seconds

    async def run(ci: int, c: RawHttp) -> None:
        nonlocal done
        i = 0
        while time.perf_counter() < deadline:
            status, _ = await c.request(*target.put(f"bench/conc/{ci}/{i}"))
            assert status == 200
            done += 1
            i += 1

    t = time.perf_counter()
    await asyncio.gather(*(run(i, c) for i, c in enumerate(conns)))
    elapsed = time.perf_counter() - t
    for c in conns:
        await c.close()
    return done / elapsed


async def local_reads(target: Target, seconds: float) -> float:
    c = target.conn()
    await c.connect()
    await c.request(*target.put("bench/read"))
    # a few keep-alive connections from one client process: the node is one worker
    conns = [target.conn() for _ in range(8)]
    for cc in conns:
        await cc.connect()
    done = 0
    deadline = time.perf_counter() + seconds

    async def run(cc: RawHttp) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            status, _ = await cc.request(*target.get("bench/read"))
            assert status == 200
            done += 1

    t = time.perf_counter()
    await asyncio.gather(*(run(cc) for cc in conns))
    rate = done / (time.perf_counter() - t)
    for cc in [c, *conns]:
        await cc.close()
    return rate


async def _open_watch(
    port: int, token: str, prefix: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    req = orjson.dumps({"token": token, "op": "watch", "prefix": prefix})
    w.write(_LEN.pack(len(req)) + req)
    return r, w


async def listener_latency(cluster: LocalCluster, listeners: int, writes: int) -> dict[str, float]:
    ack_at: dict[str, float] = {}
    lat: list[float] = []
    conns = [
        await _open_watch(cluster.nodes[i % 3].stream_port, cluster.token, "bench/ev/")
        for i in range(listeners)
    ]
    await asyncio.sleep(0.5)

    async def listen(reader: asyncio.StreamReader, expect: int) -> None:
        got = 0
        while got < expect:
            (size,) = _LEN.unpack(await reader.readexactly(4))
            frame = orjson.loads(await reader.readexactly(size))
            if frame["type"] != "events":
                continue
            now = time.perf_counter()
            for ev in frame["events"]:
                sent = ev["value"]["t"]
                lat.append((now - sent) * 1000)
                got += 1

    tasks = [asyncio.create_task(listen(r, writes)) for r, _ in conns]
    leader = cluster.leader()
    assert leader is not None
    c = RawHttp("127.0.0.1", leader.http_port, cluster.token)
    await c.connect()
    for i in range(writes):
        key = f"bench/ev/{i}"
        await c.request("PUT", f"/v1/kv/{key}", orjson.dumps({"t": time.perf_counter()}))
        ack_at[key] = time.perf_counter()
        await asyncio.sleep(0.01)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for _, w in conns:
        w.close()
    await c.close()
    return {"p50": statistics.median(lat), "p99": pct(lat, 99)}


async def snapshot_time(cluster: LocalCluster, keys: int) -> tuple[float, int]:
    leader = cluster.leader()
    assert leader is not None
    value = "x" * 186  # with the JSON quotes and the key, about 200 B per item
    # load with transactions of 500 puts each
    async with httpx.AsyncClient(headers=cluster.headers(), timeout=30) as hc:
        sem = asyncio.Semaphore(8)

        async def load(start: int) -> None:
            ops = [
                {"put": f"bench/snap/{i:07d}", "value": value} for i in range(start, min(start + 500, keys))
            ]
            async with sem:
                r = await hc.post(f"{leader.http}/v1/txn", json={"success": ops})
                assert r.status_code == 200, r.text

        await asyncio.gather(*(load(s) for s in range(0, keys, 500)))
    node = cluster.nodes[0]
    t = time.perf_counter()
    r, w = await asyncio.open_connection("127.0.0.1", node.stream_port)
    req = orjson.dumps({"token": cluster.token, "op": "snapshot", "prefix": "bench/snap/"})
    w.write(_LEN.pack(len(req)) + req)
    count = 0
    while True:
        (size,) = _LEN.unpack(await r.readexactly(4))
        frame = orjson.loads(await r.readexactly(size))
        if frame["type"] == "snapshot":
            count += len(frame["items"])
        elif frame["type"] == "snapshot_end":
            break
    w.close()
    return time.perf_counter() - t, count


def failover_time(cluster: LocalCluster) -> float:
    leader = cluster.leader()
    assert leader is not None
    others = [n for n in cluster.nodes if n is not leader]
    with httpx.Client(headers=cluster.headers(), timeout=0.5) as hc:
        hc.put(f"{others[0].http}/v1/kv/bench/fo", json=0)
        cluster.kill(leader)
        t = time.perf_counter()
        i = 0
        while True:
            node = others[i % 2]
            i += 1
            try:
                if hc.put(f"{node.http}/v1/kv/bench/fo", json=i).status_code == 200:
                    elapsed = time.perf_counter() - t
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.01)
    cluster.start_node(leader)
    cluster.wait_healthy()
    return elapsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller runs")
    args = ap.parse_args()
    q = args.quick
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
        cluster = LocalCluster(base_dir=Path(d))
        cluster.start()
        try:
            loop = uvloop.new_event_loop()
            asyncio.set_event_loop(loop)
            leader = cluster.leader()
            assert leader is not None
            ours = Target(leader.http_port, cluster.token)
            seq = loop.run_until_complete(seq_writes(ours, 300 if q else 2000))
            rows.append(
                (
                    "replicated write latency, 1 sequential client",
                    f"p50 {seq['p50']:.2f} ms, p99 {seq['p99']:.2f} ms",
                    "p50 <= 5 ms, p99 <= 20 ms",
                )
            )
            rate = loop.run_until_complete(concurrent_writes(ours, 32, 3 if q else 8))
            rows.append(("acknowledged writes over HTTP, 32 clients", f"{rate:,.0f} /s", ">= 2,000/s"))
            reads = loop.run_until_complete(
                local_reads(Target(cluster.nodes[1].http_port, cluster.token), 3 if q else 6)
            )
            rows.append(("local reads over HTTP, one node worker", f"{reads:,.0f} req/s", ">= 20,000 req/s"))
            ev = loop.run_until_complete(listener_latency(cluster, 100, 50 if q else 200))
            rows.append(
                (
                    "commit to event at a listener, 100 listeners",
                    f"p50 {ev['p50']:.1f} ms, p99 {ev['p99']:.1f} ms",
                    "p99 <= 50 ms",
                )
            )
            snap, count = loop.run_until_complete(snapshot_time(cluster, 20_000 if q else 100_000))
            rows.append((f"snapshot of {count:,} keys of ~200 B", f"{snap:.2f} s", "<= 3 s"))
            fo = statistics.median([failover_time(cluster) for _ in range(1 if q else 3)])
            rows.append(("writes resume after SIGKILL of the leader (median)", f"{fo:.2f} s", "<= 2 s"))
        finally:
            cluster.stop()
    print(f"\nConfigDB benchmark: 3 nodes on this machine, {os.cpu_count()} cores\n")
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"{'measure':<{w0}}  {'ours':<{w1}}  target")
    print(f"{'-' * w0}  {'-' * w1}  ------")
    for name, ours, target in rows:
        print(f"{name:<{w0}}  {ours:<{w1}}  {target}")
    if not EtcdCluster.available():
        print("\netcd: not installed here, so no side-by-side ratios (apt package etcd-server).")
        return
    with tempfile.TemporaryDirectory() as d:
        etcd = EtcdCluster(Path(d))
        etcd.start()
        try:
            loop = uvloop.new_event_loop()
            et = Target(etcd.leader_port(), "", etcd=True)
            e_seq = loop.run_until_complete(seq_writes(et, 300 if q else 2000))
            e_rate = loop.run_until_complete(concurrent_writes(et, 32, 3 if q else 8))
            e_reads = loop.run_until_complete(
                local_reads(Target(etcd.client_ports[1], "", etcd=True), 3 if q else 6)
            )
        finally:
            etcd.stop()
    print("\nSide by side with etcd 3.4 (3 members, same machine, its HTTP gateway, same client):\n")
    print(f"{'measure':<34}  {'ours':>12}  {'etcd':>12}  ours/etcd  target")
    for name, a, b, target in [
        ("write p50 (ms)", seq["p50"], e_seq["p50"], "<= 1.20"),
        ("write p99 (ms)", seq["p99"], e_seq["p99"], ""),
        ("writes/s, 32 clients", rate, e_rate, ">= 1.10"),
        ("local reads/s, one node", reads, e_reads, "(>= 20,000/s)"),
    ]:
        print(f"{name:<34}  {a:>12,.2f}  {b:>12,.2f}  {a / b:>9.2f}  {target}")


if __name__ == "__main__":
    main()
