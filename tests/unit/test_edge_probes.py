"""The edge control API's probes: /healthz always, /readyz 200 or 503 problem+json naming the
failed checks, both without a token; the other routes keep theirs."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.applications import Starlette

from sip_edge.control_api import create_control_app
from sip_edge.probes import EdgeReadiness


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge")


class _Edge:
    draining = False

    def health(self) -> dict[str, Any]:
        return {"draining": self.draining}


class _Config:
    problem: str | None = None

    def watch_problem(self) -> str | None:
        return self.problem


def test_readyz_names_each_failed_check() -> None:
    edge, config = _Edge(), _Config()
    listening = [True]
    app = create_control_app(
        edge,  # type: ignore[arg-type]
        "t" * 32,
        EdgeReadiness(lambda: listening[0], config, lambda: edge.draining),
    )

    async def run() -> None:
        async with _client(app) as c:
            assert (await c.get("/healthz")).json() == {"status": "ok"}
            r = await c.get("/readyz")
            assert r.status_code == 200
            assert r.json()["checks"] == {"sip": "ok", "config": "ok", "draining": "ok"}

            listening[0] = False
            config.problem = "no word from ConfigDB on 't/' for 9 s"
            edge.draining = True
            r = await c.get("/readyz")
            assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
            assert r.headers["retry-after"] == "1"
            body = r.json()
            assert body["failed"] == ["config", "draining", "sip"]
            assert "no word from ConfigDB" in body["detail"] and "draining" in body["detail"]
            assert (await c.get("/healthz")).status_code == 200  # alive all the same
            assert (await c.get("/v1/tenants/x/calls")).status_code == 401

    asyncio.run(run())


def test_without_checks_readiness_is_the_draining_flag() -> None:
    edge = _Edge()
    app = create_control_app(edge, "t" * 32)  # type: ignore[arg-type]

    async def run() -> None:
        async with _client(app) as c:
            assert (await c.get("/readyz")).status_code == 200
            edge.draining = True
            assert (await c.get("/readyz")).json()["failed"] == ["draining"]

    asyncio.run(run())
