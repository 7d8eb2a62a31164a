"""The readiness checks' runner: all at once, each bounded, every failure an answer."""

from __future__ import annotations

import asyncio
import time

from functions.http_api.probes import run_checks


def test_checks_run_concurrently_bounded_and_never_raise() -> None:
    async def ok() -> None:
        await asyncio.sleep(0.2)

    async def hangs() -> None:
        await asyncio.sleep(60)

    async def breaks() -> None:
        raise ConnectionRefusedError("refused")

    started = time.perf_counter()
    got = asyncio.run(run_checks({"a": ok, "b": ok, "slow": hangs, "down": breaks}, timeout=0.5))
    took = time.perf_counter() - started
    assert took < 1.0, f"the checks did not run at once ({took:.2f} s)"
    assert got["a"]["status"] == got["b"]["status"] == "ok"
    assert 150 <= got["a"]["latency_ms"] < 500
    assert got["slow"] == {
        "status": "failed",
        "error": "no answer within 0.5 s",
        "latency_ms": got["slow"]["latency_ms"],
    }
    assert got["slow"]["latency_ms"] >= 450
    assert got["down"]["status"] == "failed"
    assert got["down"]["error"] == "ConnectionRefusedError: refused"
