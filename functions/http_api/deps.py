"""FastAPI dependencies: the app context, the signed-in principal, `If-Match`."""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import Depends, Header, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.directory.services.accounts import WrongRegion
from shared.errors import AuthFailed, DomainError
from shared.security.tokens import InvalidToken, Principal, verify_access_token

from .context import AppContext
from .regions import foreign_base_url, redirect_location

log = logging.getLogger("api.regions")

_bearer = HTTPBearer(auto_error=False, description="an access token from POST /api/v1/auth/login")


def context(request: Request) -> AppContext:
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
        who = verify_access_token(ctx.keys, credentials.credentials, ctx.clock.now())
    except InvalidToken as exc:
        challenge = {
            "WWW-Authenticate": f'Bearer realm="api", error="invalid_token", error_description="{exc}"'
        }
        raise AuthFailed(f"invalid access token: {exc}", error_id="invalid-token", headers=challenge) from exc
    await require_home_region(ctx, who, request)
    return who


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
    """The peer address. Forwarded headers are not trusted (no proxy configuration yet)."""
    return request.client.host if request.client else "unknown"
