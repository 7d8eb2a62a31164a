"""`GET /healthz` and `GET /readyz` of the Functions app, without a token.

`/healthz`: the process answers, touching no dependency: 200 `{"status": "ok"}`.

`/readyz`: the app's dependencies answer, each asked once, all at the same time, each within
`CHECK_TIMEOUT_S`: the ConfigDB (a node's status, which must name a leader), Blob storage (a
blob lookup) and the History DB (a call lookup). 200 `{"status": "ready", "checks": {...}}` with
each check's status and latency, or 503 problem+json naming the failing ones, never a 500. The
message bus is not asked: it has no cheap read on both transports (Storage queues, Service Bus),
and a bus outage does not stop the API (sign-up and the other senders go through the ConfigDB
outbox, shared/outbox.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from .context import AppContext

CHECK_TIMEOUT_S = 2.0
PROBE_CONTAINER = "readyz"  # looked up, never created: a missing container is an answer too

Check = Callable[[], Awaitable[None]]

router = APIRouter(tags=["probes"])


async def _timed(check: Check, timeout: float) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), timeout)
        result: dict[str, Any] = {"status": "ok"}
    except TimeoutError:
        result = {"status": "failed", "error": f"no answer within {timeout:g} s"}
    except Exception as exc:  # any failure of a dependency is an answer, never a 500
        result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


async def run_checks(checks: Mapping[str, Check], timeout: float = CHECK_TIMEOUT_S) -> dict[str, Any]:
    """Run every check at once, each bounded by `timeout`: name -> status, latency and error."""
    names = list(checks)
    results = await asyncio.gather(*(_timed(checks[n], timeout) for n in names))
    return dict(zip(names, results, strict=True))


def dependency_checks(ctx: AppContext) -> dict[str, Check]:
    adapters = ctx.adapters

    async def configdb() -> None:
        status = await adapters.db.status()
        if status.leader_id is None:
            raise RuntimeError(f"node {status.node_id} knows no leader")

    async def blob() -> None:
        await adapters.media.exists(PROBE_CONTAINER, "probe")

    async def history() -> None:
        await adapters.history.get_call("readyz", "probe")

    return {"configdb": configdb, "blob": blob, "history": history}


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Readiness: the ConfigDB, Blob storage and the History DB answer",
    responses={503: {"description": "a dependency does not answer; `failed` names it"}},
)
async def readyz(request: Request) -> Response:
    checks = await run_checks(dependency_checks(request.app.state.ctx))
    failed = sorted(name for name, c in checks.items() if c["status"] != "ok")
    if not failed:
        return JSONResponse({"status": "ready", "checks": checks})
    detail = "; ".join(f"{name}: {checks[name]['error']}" for name in failed)
    body = {
        "type": "about:blank",
        "title": "Not ready",
        "status": 503,
        "detail": detail,
        "failed": failed,
        "checks": checks,
    }
    return Response(
        orjson.dumps(body),
        503,
        headers={"Retry-After": "5"},
        media_type="application/problem+json",
    )
