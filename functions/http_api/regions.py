"""Tenant home regions: a request for a tenant homed in another region answers 307 there.

The home region comes from ConfigDB discovery (`/v1/discovery?tenant=`, which reads the index
key `idx/tenant/{tid}`), cached per process for a few seconds so that a busy tenant costs one
discovery call per TTL, not one per request. The redirect target is the same path and query
under that region's API base URL (`REGION_BASE_URLS`).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shared.configdb import AsyncConfigDBClient

log = logging.getLogger("api.regions")

CACHE_TTL_SECONDS = 5.0
CACHE_SIZE = 10_000


def redirect_location(base_url: str, path: str, query: str = "") -> str:
    """`https://eu.example/api` + `/api/v1/users` + `a=1` -> `https://eu.example/api/v1/users?a=1`.

    Base URLs end in the `/api` prefix, like the request path begins with it (pure)."""
    rest = path[len("/api") :] if path == "/api" or path.startswith("/api/") else path
    return f"{base_url.rstrip('/')}{rest}" + (f"?{query}" if query else "")


def foreign_base_url(home: str, here: str, base_urls: Mapping[str, str]) -> str | None:
    """The base URL to send a tenant to, or None to serve it here (pure).

    A home region with no known base URL is served here (and logged by the caller): a
    configuration gap must not take every one of its tenants offline."""
    if home == here:
        return None
    return base_urls.get(home)


@dataclass
class TenantHomes:
    """Where each tenant lives, from ConfigDB discovery, with a small TTL cache."""

    db: AsyncConfigDBClient
    ttl: float = CACHE_TTL_SECONDS
    size: int = CACHE_SIZE
    monotonic: Callable[[], float] = time.monotonic
    _cache: OrderedDict[str, tuple[float, str]] = field(default_factory=OrderedDict)

    async def region_of(self, tenant_id: str) -> str:
        now = self.monotonic()
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        region = (await self.db.discovery(tenant=tenant_id)).region
        self._cache[tenant_id] = (now + self.ttl, region)
        self._cache.move_to_end(tenant_id)
        while len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return region

    def forget(self, tenant_id: str) -> None:
        self._cache.pop(tenant_id, None)
