"""413 for any request body over its limit, before a route parses it (pure ASGI middleware).

Two checks, so neither an honest nor a lying client gets a large body parsed:
- a `Content-Length` over the limit is refused at once, without reading the body;
- a body without one (chunked) or longer than it claimed is counted while the route reads it,
  and reading stops with a 413 as soon as the count passes the limit.

The limit is per path prefix (the longest matching prefix wins), else the default. A 413
given before the body was read ends only once the rest of the body is read and dropped (up to
shared/asgi_drain.py's bound), so the client's send completes and it reads the 413 even though
the answer closes the connection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.asgi_drain import DrainUnreadBody

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, detail: str) -> None:
        super().__init__(413, detail)
        self.limit = limit


def problem_413(limit: int, detail: str) -> tuple[dict[str, str], bytes]:
    body = {
        "type": "https://errors.cloudpbx.example/payload-too-large",
        "title": "Payload too large",
        "status": 413,
        "detail": detail,
        "limit": limit,
    }
    return {"content-type": "application/problem+json"}, json.dumps(body).encode()


class BodyLimit:
    def __init__(
        self, app: ASGIApp, default: int = DEFAULT_MAX_BODY_BYTES, per_prefix: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.default = default
        # longest prefix first
        self.per_prefix = sorted((per_prefix or {}).items(), key=lambda kv: len(kv[0]), reverse=True)
        self._drained = DrainUnreadBody(self._limited)

    def limit_for(self, path: str) -> int:
        for prefix, limit in self.per_prefix:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/"):
                return limit
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._drained(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit, f"the body is {declared} bytes; this route accepts at most {limit}")
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, f"the body is over {limit} bytes, the most this route accepts")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:  # raised where no exception handler caught it (e.g. a form parser)
            if started:
                raise
            await _send_413(send, exc.limit, str(exc.detail))


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _send_413(send: Send, limit: int, detail: str) -> None:
    headers, body = problem_413(limit, detail)
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", headers["content-type"].encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
