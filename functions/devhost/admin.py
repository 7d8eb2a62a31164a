"""``/admin/...`` endpoints: run a non-HTTP function on demand, as the Azure host's admin API does."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from functions.devhost.bindings import BLOB, NON_HTTP, Discovered, FunctionSpec

# (spec, input) -> coroutine that invokes the function; built by __main__ with the storage clients
Dispatch = Callable[[FunctionSpec, str], Awaitable[None]]


def problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


def build_admin_app(discovered: Discovered, dispatch: Dispatch) -> Starlette:
    background: set[asyncio.Task[None]] = set()

    async def run_function(request: Request) -> Response:
        name = request.path_params["name"]
        spec = discovered.functions.get(name)
        if spec is None or spec.trigger not in NON_HTTP:
            return problem(404, "Not Found", f"no non-HTTP function named {name!r}")
        raw = await request.body()
        try:
            payload: Any = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            return problem(400, "Bad Request", 'body must be JSON like {"input": "..."}')
        value = payload.get("input", "") if isinstance(payload, dict) else None
        if not isinstance(value, str):
            return problem(400, "Bad Request", "'input' must be a string")
        if spec.trigger == BLOB and "/" not in value.strip("/"):
            return problem(400, "Bad Request", "blob functions take 'container/blob' as input")

        async def run() -> None:
            with contextlib.suppress(Exception):  # logged as an invocation with outcome "error"
                await dispatch(spec, value)

        task = asyncio.create_task(run())
        background.add(task)
        task.add_done_callback(background.discard)
        return Response(status_code=202)

    async def list_functions(request: Request) -> Response:
        return JSONResponse(
            [
                {"name": f.name, "trigger": f.trigger, "settings": _jsonable(f.settings)}
                for f in discovered.functions.values()
            ]
        )

    async def host_status(request: Request) -> Response:
        return JSONResponse({"state": "Running"})

    app = Starlette(
        routes=[
            Route("/admin/functions", list_functions, methods=["GET"]),
            Route("/admin/functions/{name}", run_function, methods=["POST"]),
            Route("/admin/host/status", host_status, methods=["GET"]),
        ]
    )
    app.state.background = background
    return app


def _jsonable(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.value if hasattr(v, "value") else v) for k, v in settings.items() if k != "methods"}
