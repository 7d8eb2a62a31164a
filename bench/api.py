"""API benchmark on the whole local stack (real processes); prints one table.

    .venv/bin/python bench/api.py [--quick] [--profile FILE]

- GET /api/v1/users: req/s and p50/p99 latency from 8 keep-alive connections against the
  functions host's single uvicorn worker, driven by wrk (`wrk -t2 -c8 -d10s --latency`, after a
  2 s warm-up) when it is installed (`make system-deps`), else by an asyncio client; and p50/p99
  of one sequential client.
- `--profile FILE`: py-spy (on PATH, or `$PY_SPY`) samples the functions host during the load
  run and writes its collapsed stacks to FILE.
- A menu PATCH to its change arriving at a ConfigDB watcher on another node.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
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


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk_users(
    stack: LocalStack, token: str, seconds: int, profile: str | None
) -> tuple[float, float, float, float]:
    """(req/s, p50 ms, p99 ms, host CPU ms per request) of `wrk -t2 -c8 --latency` on
    GET /api/v1/users, after a warm-up. The CPU time per request does not depend on what else
    the machine runs; 1000 / it is the rate one free core would serve."""
    url = f"http://127.0.0.1:{stack.api_port}/api/v1/users"
    base = ["wrk", "-t2", "-c8", "-H", f"Authorization: Bearer {token}", "--latency"]
    subprocess.run([*base, "-d2s", url], check=True, capture_output=True)
    spy = None
    if profile and stack.host.pid:
        exe = os.environ.get("PY_SPY") or shutil.which("py-spy") or "py-spy"
        spy = subprocess.Popen(
            [
                exe,
                "record",
                "--format",
                "raw",
                "-r",
                "200",
                "-d",
                str(seconds),
                "-o",
                profile,
                "--pid",
                str(stack.host.pid),
                "--subprocesses",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    cpu0 = cpu_seconds(stack.host.pid)
    out = subprocess.run([*base, f"-d{seconds}s", url], check=True, capture_output=True, text=True).stdout
    cpu = cpu_seconds(stack.host.pid) - cpu0
    if spy is not None:
        spy.wait(timeout=seconds + 30)
    if "Non-2xx" in out:
        raise RuntimeError(f"wrk saw failed requests:\n{out}")
    errors = re.search(r"Socket errors: .*", out)  # timeouts (2 s) on an overloaded machine
    if errors:
        print(f"wrk: {errors.group(0)}", file=sys.stderr)

    def ms(label: str) -> float:
        m = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"(\d+) requests in", out)
    assert rate and done, out
    return float(rate.group(1)), ms("50%"), ms("99%"), cpu * 1000 / max(int(done.group(1)), 1)


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
    ap.add_argument("--profile", metavar="FILE", help="py-spy collapsed stacks of the host under load")
    args = ap.parse_args()
    q = args.quick
    with tempfile.TemporaryDirectory() as d, LocalStack(Path(d)) as stack:
        tenant_id, token = signup_verified(stack, "owner@bench.example")
        menu_id = seed(stack, token, 20)
        loop = uvloop.new_event_loop()
        p50, p99 = loop.run_until_complete(users_latency(stack, token, 200 if q else 1000))
        if shutil.which("wrk"):
            rate, w50, w99, cpu_ms = wrk_users(stack, token, 5 if q else 10, args.profile)
            load = (
                f"{rate:,.0f} req/s, p50 {w50:.1f} ms, p99 {w99:.1f} ms (wrk); "
                f"host CPU {cpu_ms:.2f} ms/request"
            )
        else:
            rate = loop.run_until_complete(users_rate(stack, token, 3 if q else 8))
            load = f"{rate:,.0f} req/s (asyncio client; install wrk for latency)"
        m50, m99 = loop.run_until_complete(menu_to_watch(stack, token, tenant_id, menu_id, 50 if q else 200))
    rows = [
        ("GET /api/v1/users (21 users), 1 sequential client", f"p50 {p50:.2f} ms, p99 {p99:.2f} ms", ""),
        (
            "GET /api/v1/users, 8 keep-alive connections, one worker",
            load,
            ">= 2,000 req/s, p99 <= 20 ms",
        ),
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
