"""The History DB and the media behind the history routes, one of each per app.

The History DB is opened on first use from the app's settings (MongoDB when `MONGODB_URI` is
set, else the embedded SQLite file under DATA_DIR, the same one the SIP edge writes) and closed
with the app's context. A caller may put its own `AsyncHistoryStore` on `app.state.history`
before the first request (a benchmark over a prepared file does).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from shared.adapters.blob_media import BlobMedia
from shared.adapters.history import open_history_store
from shared.adapters.history.aio import AsyncHistoryStore
from shared.history.ports import InvalidCursor
from shared.history.services.access import HistoryAccess

from .deps import Ctx
from .errors import ApiError
from .routers.prompts import prompt_media


class _Closer:
    def __init__(self, store: AsyncHistoryStore) -> None:
        self.store = store

    async def aclose(self) -> None:
        await self.store.close()


async def history_store(request: Request, ctx: Ctx) -> AsyncHistoryStore:
    state = request.app.state
    store: AsyncHistoryStore | None = getattr(state, "history", None)
    if store is not None:
        return store
    lock: asyncio.Lock | None = getattr(state, "history_lock", None)
    if lock is None:
        lock = state.history_lock = asyncio.Lock()
    async with lock:
        store = getattr(state, "history", None)
        if store is None:
            opened = await asyncio.to_thread(open_history_store, ctx.settings)
            store = state.history = AsyncHistoryStore(opened)
            ctx.owned.append(_Closer(store))
    return store


def history_access(
    ctx: Ctx,
    store: Annotated[AsyncHistoryStore, Depends(history_store)],
    media: Annotated[BlobMedia, Depends(prompt_media)],
) -> HistoryAccess:
    return HistoryAccess(store, media, ctx.clock)


Access = Annotated[HistoryAccess, Depends(history_access)]


class HistoryRoute(APIRoute):
    """Maps a cursor the History DB refuses (malformed, or from another query) to a 422 that
    points at the `cursor` query parameter."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except InvalidCursor as exc:
                raise invalid_query("cursor", str(exc)) from exc

        return route


def invalid_query(name: str, message: str) -> ApiError:
    errors = [{"pointer": f"#query/{name}", "message": message, "code": "invalid"}]
    return ApiError(422, "Invalid request", message, "validation", errors=errors)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A query datetime without an offset is taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
