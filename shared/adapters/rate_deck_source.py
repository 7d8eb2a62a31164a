"""Where the carrier's rate deck comes from (`Settings.rates_source`): a local file path (or a
`file://` URL), or an http(s) URL fetched with httpx.

`fetch()` returns the deck's bytes. `NotFoundError` when the file or URL does not exist (404);
`Unavailable` for anything else that may heal (connection errors, timeouts, other statuses)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from shared.billing.services.rates import MAX_DECK_BYTES
from shared.errors import NotFoundError, Unavailable


class RateDeckSource:
    def __init__(self, location: str, *, timeout: float = 30.0) -> None:
        self.location = location
        self.timeout = timeout

    async def fetch(self) -> bytes:
        if self.location.startswith(("http://", "https://")):
            return await self._fetch_url()
        path = Path(
            unquote(urlparse(self.location).path) if self.location.startswith("file://") else self.location
        )
        return await asyncio.to_thread(self._read_file, path)

    def _read_file(self, path: Path) -> bytes:
        try:
            with path.open("rb") as f:
                return f.read(MAX_DECK_BYTES + 1)
        except FileNotFoundError as exc:
            raise NotFoundError(f"rate deck {path}") from exc
        except OSError as exc:
            raise Unavailable(f"rate deck {path}: {exc}") from exc

    async def _fetch_url(self) -> bytes:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as client:
                r = await client.get(self.location)
        except httpx.HTTPError as exc:
            raise Unavailable(f"rate deck {self.location}: {type(exc).__name__}: {exc}") from exc
        if r.status_code == 404:
            raise NotFoundError(f"rate deck {self.location}")
        if r.status_code != 200:
            raise Unavailable(f"rate deck {self.location}: HTTP {r.status_code}")
        return r.content[: MAX_DECK_BYTES + 1]
