"""The v1 routers. Each one parses, calls a service and dumps the result."""

from __future__ import annotations

from fastapi import APIRouter

from . import auth, devices, regions, report_links, tenant, users


def v1_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    for module in (auth, tenant, users, devices, regions, report_links):
        router.include_router(module.router)
    return router
