"""FastAPI dependencies: the app context, the signed-in principal, `If-Match`, the client address.

The principal's access token must name the user's current `auth_version` (`uv`): the user
document is read on every bearer request (from the process's read cache on read requests,
functions/http_api/read_cache.py), so a deleted user, a changed password or a changed role ends
older access tokens at once (401 `invalid-token`; the client refreshes, or logs in).

A token's signature is checked once per process (`VerifiedTokens` in token_cache.py).
"""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.configdb_keys import user_key
from shared.directory.models.user import User
from shared.directory.services.accounts import WrongRegion
from shared.errors import AuthFailed, DomainError
from shared.security.tokens import InvalidToken, Principal

from .client_ip import client_ip, forwarded_hops
from .context import AppContext
from .regions import foreign_base_url, redirect_location

log = logging.getLogger("api.regions")

_bearer = HTTPBearer(auto_error=False, description="an access token from POST /api/v1/auth/login")


async def context(request: Request) -> AppContext:
    """Async so that FastAPI calls it on the loop, not in its thread pool."""
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(context)]


async def principal(
    request: Request,
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from the bearer token; 307 to the home region of a tenant served elsewhere."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise AuthFailed("a bearer access token is required")
    try:
        who = ctx.tokens.verify(ctx.keys, credentials.credentials, ctx.clock.now())
    except InvalidToken as exc:
        raise _invalid_token(str(exc)) from exc
    await require_home_region(ctx, who, request)
    user = await ctx.repo.get(user_key(who.tenant_id, who.user_id), User)
    if user is None:
        raise _invalid_token("the account no longer exists")
    if user.doc.auth_version != who.uv:
        raise _invalid_token("the password or role changed since this token was issued")
    return who


def _invalid_token(reason: str) -> AuthFailed:
    value = f'Bearer realm="api", error="invalid_token", error_description="{reason}"'
    challenge = {"WWW-Authenticate": value}
    return AuthFailed(f"invalid access token: {reason}", error_id="invalid-token", headers=challenge)


async def require_home_region(ctx: AppContext, who: Principal, request: Request) -> None:
    settings = ctx.settings
    home = await ctx.homes.region_of(who.tenant_id)
    base = foreign_base_url(home, settings.region, settings.region_base_urls)
    if base is not None:
        query = request.url.query
        raise WrongRegion(home, redirect_location(base, request.url.path, query))
    if home != settings.region:
        log.warning(
            "tenant homed in a region with no base URL; served here",
            extra={"event": "tenant_region_unknown", "tenant_id": who.tenant_id, "region": home},
        )


Who = Annotated[Principal, Depends(principal)]


class MalformedIfMatch(DomainError):
    """412: an `If-Match` header that names no revision cannot match any."""

    status = 412
    error_id = "precondition-failed"
    title = "Precondition failed"


_ETAG = re.compile(r'^\s*(?:W/)?(?:"(\d{1,18})"|(\d{1,18}))\s*$')


def if_match(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int | None:
    """The revision in an `If-Match` header (`"12"`, `W/"12"` or `12`); None when absent or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    m = _ETAG.match(if_match)
    if m is None:
        raise MalformedIfMatch("If-Match does not name a revision of this resource")
    return int(m.group(1) or m.group(2))


IfMatch = Annotated[int | None, Depends(if_match)]


def etag(revision: int) -> str:
    return f'"{revision}"'


def set_etag(response: Response, revision: int) -> None:
    response.headers["ETag"] = etag(revision)


def client_address(request: Request) -> str:
    """The caller's address for the throttles: the right-most forwarded hop outside
    `TRUSTED_PROXIES` (functions/http_api/client_ip.py has the rule)."""
    ctx: AppContext = request.app.state.ctx
    hops = forwarded_hops(request.headers.getlist("x-forwarded-for"), request.headers.getlist("forwarded"))
    peer = request.client.host if request.client else None
    return client_ip(peer, hops, ctx.trusted_proxies)
