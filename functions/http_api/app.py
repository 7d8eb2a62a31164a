"""create_app(): the web and mobile API (FastAPI), served by AsgiFunctionApp.

Wiring only: settings -> AppContext (ConfigDB client, queue bus, clock, services), error
handlers, and the v1 routers. Tests pass their own settings and, where no real component
fits, their own ports (a recording bus, a fixed clock).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.configdb import AsyncConfigDBClient
from shared.ports import Clock, MessageBus
from shared.security.rate_limit import LoginThrottle
from shared.settings import Settings, get_settings

from .body_limit import DEFAULT_MAX_BODY_BYTES, BodyLimit
from .context import build_context
from .cors import install_cors
from .deps import install_domain_errors
from .errors import install_error_handlers
from .openapi import install_problem_openapi
from .routers import calls, dashboard, history, menus, numbers, prompts, v1_router


def create_app(
    settings: Settings | None = None,
    *,
    bus: MessageBus | None = None,
    clock: Clock | None = None,
    db: AsyncConfigDBClient | None = None,
    throttle: LoginThrottle | None = None,
) -> FastAPI:
    ctx = build_context(settings or get_settings(), bus=bus, clock=clock, db=db, throttle=throttle)

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
    install_error_handlers(app)
    install_domain_errors(app)

    @app.get("/api/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.include_router(v1_router())
    app.include_router(numbers.router, prefix="/api/v1")
    app.include_router(menus.router, prefix="/api/v1")
    app.include_router(prompts.router, prefix="/api/v1")
    app.include_router(history.router)  # its /calls/{id} never matches /calls/active
    app.include_router(calls.router, prefix="/api/v1")  # click-to-call, /calls/active
    app.include_router(dashboard.router, prefix="/api/v1")
    install_problem_openapi(app)
    app.add_middleware(
        BodyLimit,
        default=DEFAULT_MAX_BODY_BYTES,
        per_prefix={"/api/v1/prompts": prompts.MAX_BODY_BYTES},
    )
    install_cors(app, ctx.settings.cors_origins)  # last added = outermost: errors get CORS headers too
    return app
