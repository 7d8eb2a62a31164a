"""The single ASGI app uvicorn serves: ``/admin/...`` to the admin API, the rest to the user's ASGI app.

Under Azure, ``AsgiFunctionApp`` registers one HTTP function with route ``/{*route}`` and passes the full
request path to the ASGI app, so with host.json's ``routePrefix`` the app sees ``<prefix>/<route>``
unchanged. Here the ASGI app is mounted at the root and only paths under the route prefix reach it.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send


def _not_found_body(path: str) -> bytes:
    return json.dumps({"type": "about:blank", "title": "Not Found", "status": 404, "detail": path}).encode()


def build_root_app(user_app: ASGIApp | None, admin_app: ASGIApp, prefix: str) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            if user_app is not None:
                await user_app(scope, receive, send)
            else:
                await _empty_lifespan(receive, send)
            return
        path: str = scope.get("path", "")
        if path == "/admin" or path.startswith("/admin/"):
            await admin_app(scope, receive, send)
            return
        if user_app is not None and (not prefix or path == prefix or path.startswith(prefix + "/")):
            await user_app(scope, receive, send)
            return
        if scope["type"] == "http":
            body = _not_found_body(path)
            headers: list[Any] = [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1000})

    return app


async def _empty_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
