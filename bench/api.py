"""API benchmark on the whole local stack (real processes); prints one table.

    .venv/bin/python bench/api.py [--quick]

- GET /api/v1/users: req/s from 8 keep-alive connections, and p50/p99 latency of one
  sequential client, against the functions host's single uvicorn worker.
- A menu PATCH to its change arriving at a ConfigDB watcher on another node.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.configdb import pct
from bench.rawhttp import RawHttp
from infra.local.stack import LocalStack, signup_verified
from shared.configdb import AsyncConfigDBClient, WatchEvent


def seed(stack: LocalStack, token: str, users: int) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.api, headers=auth, timeout=10) as api:
        for i in range(users):
            api.post(
                "/users",
                json={"name": f"User {i}", "email": f"u{i}@bench.example", "extension": f"{300 + i}"},
            ).raise_for_status()
        menu = api.post(
            "/ivr-menus",
            json={
                "name": "Main",
                "greeting": {"text": "Welcome"},
                "options": [{"digit": "0", "action": {"type": "hang_up"}}],
            },
        )
        menu.raise_for_status()
        return str(menu.json()["id"])


async def users_latency(stack: LocalStack, token: str, n: int) -> tuple[float, float]:
    c = RawHttp("127.0.0.1", stack.api_port, token)
    await c.connect()
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        status, _ = await c.request("GET", "/api/v1/users")
        lat.append((time.perf_counter() - t) * 1000)
        assert status == 200
    await c.close()
    return statistics.median(lat), pct(lat, 99)


async def users_rate(stack: LocalStack, token: str, seconds: float) -> float:
    conns = [RawHttp("127.0.0.1", stack.api_port, token) for _ in range(8)]
    for c in conns:
        await c.connect()
    done = 0
    deadline = time.perf_counter() + seconds

    async def run(c: RawHttp) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            status, _ = await c.request("GET", "/api/v1/users")
            assert status == 200
            done += 1

    t = time.perf_counter()
    await asyncio.gather(*(run(c) for c in conns))
    for c in conns:
        await c.close()
    return done / (time.perf_counter() - t)


async def menu_to_watch(
    stack: LocalStack, token: str, tenant_id: str, menu_id: str, n: int
) -> tuple[float, float]:
    node = stack.cluster.nodes[2]
    sent: dict[str, float] = {}
    lat: list[float] = []
    async with AsyncConfigDBClient([node.http], stack.cluster.token) as db:
        status = await db.status()
        watch = db.watch(f"t/{tenant_id}/menu/", from_revision=(status.revision or 0) + 1)

        async def listen() -> None:
            async for item in watch:
                if isinstance(item, WatchEvent) and item.value and item.value.get("name") in sent:
                    lat.append((time.perf_counter() - sent[item.value["name"]]) * 1000)
                    if len(lat) == n:
                        return

        task = asyncio.create_task(listen())
        c = RawHttp("127.0.0.1", stack.api_port, token)
        await c.connect()
        for i in range(n):
            name = f"Main {i}"
            sent[name] = time.perf_counter()
            st, body = await c.request("PATCH", f"/api/v1/ivr-menus/{menu_id}", orjson.dumps({"name": name}))
            assert st == 200, body
            await asyncio.sleep(0.02)
        await asyncio.wait_for(task, 30)
        await c.close()
    return statistics.median(lat), pct(lat, 99)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    q = ap.parse_args().quick
    with tempfile.TemporaryDirectory() as d, LocalStack(Path(d)) as stack:
        tenant_id, token = signup_verified(stack, "owner@bench.example")
        menu_id = seed(stack, token, 20)
        loop = uvloop.new_event_loop()
        p50, p99 = loop.run_until_complete(users_latency(stack, token, 200 if q else 1000))
        rate = loop.run_until_complete(users_rate(stack, token, 3 if q else 8))
        m50, m99 = loop.run_until_complete(menu_to_watch(stack, token, tenant_id, menu_id, 50 if q else 200))
    rows = [
        ("GET /api/v1/users (21 users), 1 sequential client", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms", ""),
        ("GET /api/v1/users, 8 keep-alive connections, one worker", f"{rate:,.0f} req/s", ""),
        (
            "menu PATCH sent -> event at a ConfigDB watcher",
            f"p50 {m50:.1f} ms, p99 {m99:.1f} ms",
            "p99 <= 100 ms",
        ),
    ]
    print(f"\nAPI benchmark: the local stack on this machine, {os.cpu_count()} cores\n")
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    print(f"{'measure':<{w0}}  {'ours':<{w1}}  target")
    for name, ours, target in rows:
        print(f"{name:<{w0}}  {ours:<{w1}}  {target}")


if __name__ == "__main__":
    main()
