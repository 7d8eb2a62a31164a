"""create_app(): the web and mobile API (FastAPI), served by AsgiFunctionApp.

Wiring only: settings -> `Adapters` (functions/wiring.py) -> `AppContext` (the services), the
problem+json mapping (problems.py), request ids, and the v1 routers. Tests pass their own settings
and, where no real component fits, their own ports (a recording bus, a fixed clock); a benchmark
may pass a prepared History DB.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.adapters.history.aio import AsyncHistoryStore
from shared.configdb import AsyncConfigDBClient
from shared.ports import Clock, MessageBus
from shared.security.rate_limit import AuthLimits
from shared.settings import Settings, get_settings

from . import probes
from .body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from .context import build_context
from .cors import install_cors
from .openapi import install_problem_openapi
from .problems import RequestIds, install_problems
from .read_cache import CacheReads
from .routers import caller_ids, calls, dashboard, menus, numbers, outbound_policy, prompts, v1_router
from .routers import history as history_routes


def create_app(
    settings: Settings | None = None,
    *,
    bus: MessageBus | None = None,
    clock: Clock | None = None,
    db: AsyncConfigDBClient | None = None,
    limits: AuthLimits | None = None,
    history: AsyncHistoryStore | None = None,
) -> FastAPI:
    ctx = build_context(
        settings or get_settings(), bus=bus, clock=clock, db=db, limits=limits, history=history
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await ctx.aclose()

    app = FastAPI(
        title="Cloud PBX API",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_problems(app)

    @app.get("/api/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(probes.router)  # /healthz, /readyz at the root, without a token
    app.include_router(v1_router())
    app.include_router(numbers.router, prefix="/api/v1")
    app.include_router(menus.router, prefix="/api/v1")
    app.include_router(prompts.router, prefix="/api/v1")
    app.include_router(history_routes.router)  # its /calls/{id} never matches /calls/active
    app.include_router(calls.router, prefix="/api/v1")  # click-to-call, /calls/active
    app.include_router(outbound_policy.router, prefix="/api/v1")
    app.include_router(caller_ids.router, prefix="/api/v1")
    app.include_router(dashboard.router, prefix="/api/v1")
    install_problem_openapi(app)
    app.add_middleware(CacheReads)  # GET/HEAD: reads may come from the process's read cache
    app.add_middleware(
        BodyLimit,
        default=DEFAULT_MAX_BODY_BYTES,
        per_prefix={"/api/v1/prompts": prompts.MAX_BODY_BYTES},
    )
    app.add_middleware(RequestIds)
    install_cors(app, ctx.settings.cors_origins)  # last added = outermost: errors get CORS headers too
    return app
