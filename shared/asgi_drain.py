"""Early answers that every HTTP client can read (pure ASGI middleware).

An app may answer before it has read the request body: a 413 judged from `Content-Length`, a
401 on an upload. If the server then closes the connection (the client sent `Connection:
close`, or the answer says so) while body bytes are still unread, the kernel resets it: the
client's send fails with a broken pipe or reset, and the answer may be lost with it.

`DrainUnreadBody` holds back the end of such an answer: the status, headers and body go out
at once (a client reading concurrently has them), then the rest of the request body is read
and dropped, up to `max_bytes` or `max_seconds`, and only then does the answer end and the
server close or reuse the connection. A client that sends its whole body before reading (most
do) finishes its send and reads the answer. A body larger than the bound still gets the
connection closed under it.
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DRAIN_MAX_BYTES = 32 * 1024 * 1024
DRAIN_MAX_SECONDS = 5.0


def _declares_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


class DrainUnreadBody:
    def __init__(
        self, app: ASGIApp, max_bytes: int = DRAIN_MAX_BYTES, max_seconds: float = DRAIN_MAX_SECONDS
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _declares_body(scope):
            await self.app(scope, receive, send)
            return
        body_done = False

        async def tracking_receive() -> Message:
            nonlocal body_done
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def drain() -> None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.max_seconds
            dropped = 0
            while not body_done and dropped <= self.max_bytes:
                left = deadline - loop.time()
                if left <= 0:
                    return
                try:
                    message = await asyncio.wait_for(tracking_receive(), left)
                except TimeoutError:
                    return
                dropped += len(message.get("body", b""))

        async def holding_send(message: Message) -> None:
            if (
                message["type"] == "http.response.body"
                and not message.get("more_body", False)
                and not body_done
            ):
                await send({**message, "more_body": True})
                await drain()
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self.app(scope, tracking_receive, holding_send)
