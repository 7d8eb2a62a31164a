"""FastAPI dependencies (context, principal, If-Match) and the domain-error -> problem mapping."""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from shared.configdb import ConfigDBUnavailable, InvalidRequest
from shared.directory.services.accounts import AuthFailed, Forbidden, InvalidField, Throttled, WrongRegion
from shared.directory.services.users import field_of_conflict
from shared.errors import ConflictError, DomainError, NotFoundError, PreconditionFailed, Unavailable
from shared.security.tokens import InvalidToken, Principal, verify_access_token

from .context import AppContext
from .errors import ApiError, pointer, problem
from .regions import foreign_base_url, redirect_location

log = logging.getLogger("api.regions")

_bearer = HTTPBearer(auto_error=False, description="an access token from POST /api/v1/auth/login")
BEARER_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="api"'}


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
        raise ApiError(
            401, "Unauthorized", "a bearer access token is required", "unauthorized", headers=BEARER_CHALLENGE
        )
    try:
        who = verify_access_token(ctx.keys, credentials.credentials, ctx.clock.now())
    except InvalidToken as exc:
        challenge = {
            "WWW-Authenticate": f'Bearer realm="api", error="invalid_token", error_description="{exc}"'
        }
        raise ApiError(
            401, "Unauthorized", f"invalid access token: {exc}", "invalid-token", headers=challenge
        ) from exc
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

_ETAG = re.compile(r'^\s*(?:W/)?(?:"(\d{1,18})"|(\d{1,18}))\s*$')


def if_match(if_match: Annotated[str | None, Header(alias="If-Match")] = None) -> int | None:
    """The revision in an `If-Match` header (`"12"`, `W/"12"` or `12`); None when absent or `*`."""
    if if_match is None or if_match.strip() == "*":
        return None
    m = _ETAG.match(if_match)
    if m is None:
        raise ApiError(
            412,
            "Precondition failed",
            "If-Match does not name a revision of this resource",
            "precondition-failed",
        )
    return int(m.group(1) or m.group(2))


IfMatch = Annotated[int | None, Depends(if_match)]


def etag(revision: int) -> str:
    return f'"{revision}"'


def set_etag(response: Response, revision: int) -> None:
    response.headers["ETag"] = etag(revision)


def client_address(request: Request) -> str:
    """The peer address. Forwarded headers are not trusted (no proxy configuration yet)."""
    return request.client.host if request.client else "unknown"


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    detail = str(exc)
    if isinstance(exc, AuthFailed):
        return problem(401, "Unauthorized", detail, "unauthorized", headers=BEARER_CHALLENGE)
    if isinstance(exc, Forbidden):
        return problem(403, "Forbidden", detail, "forbidden")
    if isinstance(exc, Throttled):
        return problem(
            429, "Too many requests", detail, "throttled", headers={"Retry-After": str(exc.retry_after)}
        )
    if isinstance(exc, InvalidField):
        errors = [{"pointer": exc.pointer, "message": exc.message, "code": "invalid"}]
        return problem(exc.status, "Invalid request", exc.message, "validation", errors=errors)
    if isinstance(exc, WrongRegion):
        return problem(
            307,
            "Wrong region",
            detail,
            "wrong-region",
            headers={"Location": exc.location},
            region=exc.region,
            location=exc.location,
        )
    if isinstance(exc, NotFoundError):
        return problem(404, "Not found", f"{exc.what} not found", "not-found")
    if isinstance(exc, ConflictError):
        field = field_of_conflict(exc.key)
        errors = [{"pointer": f"/{field}", "message": detail, "code": "taken"}]
        return problem(409, "Conflict", detail, "conflict", field=field, errors=errors)
    if isinstance(exc, PreconditionFailed):
        return problem(
            412,
            "Precondition failed",
            "the resource changed since you read it; fetch it again and retry",
            "precondition-failed",
            headers={"ETag": etag(exc.current_revision)},
        )
    if isinstance(exc, Unavailable):
        return problem(
            503,
            "Service unavailable",
            "a backing store is unreachable; retry shortly",
            "unavailable",
            headers={"Retry-After": "1"},
        )
    return problem(400, "Bad request", detail, "bad-request")


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    return problem(
        503,
        "Service unavailable",
        "the configuration store is unreachable; retry shortly",
        "unavailable",
        headers={"Retry-After": "1"},
    )


async def _store_refused(request: Request, exc: Exception) -> JSONResponse:
    """Safety net: input that slipped past validation and that the store refuses (e.g. a bad key)."""
    return problem(400, "Bad request", f"the request cannot be stored: {exc}", "bad-request")


async def _invalid_document(request: Request, exc: Exception) -> JSONResponse:
    """A model rebuilt inside a service (e.g. a patch applied to a stored document) did not validate."""
    assert isinstance(exc, ValidationError)
    errors = [
        {"pointer": pointer(e.get("loc", ())), "message": str(e.get("msg", "invalid")), "code": e.get("type")}
        for e in exc.errors()
    ]
    return problem(422, "Invalid request", "the result would not be valid", "validation", errors=errors)


def install_domain_errors(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(ConfigDBUnavailable, _store_unavailable)
    app.add_exception_handler(InvalidRequest, _store_refused)
    app.add_exception_handler(ValidationError, _invalid_document)
