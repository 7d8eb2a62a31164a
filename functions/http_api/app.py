"""create_app(): the web and mobile API (FastAPI), served by AsgiFunctionApp.

Only a health route so far; the configuration API lands with issue 3.
"""

from __future__ import annotations

from fastapi import FastAPI

from .errors import install_error_handlers


def create_app() -> FastAPI:
    app = FastAPI(title="Cloud PBX API", docs_url="/api/docs", openapi_url="/api/openapi.json")
    install_error_handlers(app)

    @app.get("/api/v1/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
