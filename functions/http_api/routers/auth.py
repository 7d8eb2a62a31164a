"""Sign-up, email verification, login, token refresh, logout and password reset."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared.directory.services.accounts import (
    LoginIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RefreshIn,
    SignupIn,
    SignupOut,
    TokenIn,
    TokenPair,
    VerifiedOut,
    VerifyResendIn,
)
from shared.errors import AuthFailed, Forbidden

from ..context import AppContext
from ..deps import Ctx, client_address
from ..session_cookie import COOKIE_NAME, clear_cookie, read_cookie, set_cookie

router = APIRouter(tags=["auth"])

_PROBLEMS = {
    400: {"description": "invalid or expired token"},
    401: {"description": "bad credentials or token"},
    409: {"description": "already exists"},
}


@router.post(
    "/signup",
    status_code=status.HTTP_201_CREATED,
    response_model=SignupOut,
    responses={
        307: {"description": "the region is served elsewhere"},
        409: _PROBLEMS[409],
        429: {"description": "too many sign-ups for this email or from this address"},
    },
)
async def signup(body: SignupIn, request: Request, ctx: Ctx) -> SignupOut:
    return await ctx.accounts.signup(body, client_address(request))


@router.post(
    "/signup/verify",
    response_model=VerifiedOut,
    responses={400: _PROBLEMS[400], 409: {"description": "the new email address was taken meanwhile"}},
)
async def verify(body: TokenIn, ctx: Ctx) -> VerifiedOut:
    """Follow a sign-up link (the account becomes active) or a new-address link (the account's
    email becomes the new address; `email` in the answer)."""
    return await ctx.accounts.verify_email(body.token)


@router.post(
    "/signup/verify/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses={429: {"description": "too many resends for this email or from this address"}},
)
async def verify_resend(body: VerifyResendIn, request: Request, ctx: Ctx) -> Response:
    """Mail a new sign-up link if the account exists and is not verified yet (always 202)."""
    await ctx.accounts.resend_verification(body.email, client_address(request))
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/auth/login",
    response_model=TokenPair,
    responses={
        401: _PROBLEMS[401],
        403: {"description": "email not verified"},
        429: {"description": "too many attempts"},
    },
)
async def login(body: LoginIn, request: Request, ctx: Ctx) -> TokenPair:
    return await ctx.accounts.login(body, client_address(request))


@router.post("/auth/refresh", response_model=TokenPair, responses={401: _PROBLEMS[401]})
async def refresh(body: RefreshIn, ctx: Ctx) -> TokenPair:
    return await ctx.accounts.refresh(body.refresh_token)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def logout(body: RefreshIn, ctx: Ctx) -> Response:
    await ctx.accounts.logout(body.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses={429: {"description": "too many resets for this email or from this address"}},
)
async def password_reset(body: PasswordResetIn, request: Request, ctx: Ctx) -> Response:
    await ctx.accounts.request_password_reset(body.email, client_address(request))
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.post(
    "/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={400: _PROBLEMS[400]},
)
async def password_reset_confirm(body: PasswordResetConfirmIn, ctx: Ctx) -> Response:
    await ctx.accounts.confirm_password_reset(body.token, body.password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- browser session (web portal)
# The refresh token travels only in the HttpOnly cookie; the body carries the access token.


class SessionOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


_SESSION_401 = {401: {"description": "no session cookie, or it is not valid (the cookie is cleared)"}}
_ORIGIN_403 = {403: {"description": "the request's Origin is not an allowed web origin"}}
SessionCookie = Annotated[str | None, Cookie(alias=COOKIE_NAME, include_in_schema=False)]


def allowed_origin(request: Request, ctx: Ctx) -> None:
    """Browsers send Origin on these POST/DELETE requests: refuse other sites (login CSRF, forced
    rotation). Clients that send no Origin (not browsers) pass."""
    origin = request.headers.get("origin")
    if origin is not None and origin not in ctx.settings.cors_origins:
        raise Forbidden(f"origin {origin} may not use the browser session")


def _secure(request: Request, ctx: AppContext) -> bool:
    """Secure on an https site (settings) and on any request that came over https: the scheme
    uvicorn reports, which honours X-Forwarded-Proto from trusted proxies only."""
    return ctx.settings.refresh_cookie_is_secure or request.url.scheme == "https"


def _session(pair: TokenPair, request: Request, ctx: AppContext) -> JSONResponse:
    body = SessionOut(access_token=pair.access_token, token_type=pair.token_type, expires_in=pair.expires_in)
    cookie = set_cookie(
        pair.refresh_token, ctx.settings.refresh_token_ttl_seconds, secure=_secure(request, ctx)
    )
    headers = {"Set-Cookie": cookie, "Cache-Control": "no-store"}
    return JSONResponse(body.model_dump(), headers=headers)


@router.post(
    "/auth/session",
    response_model=SessionOut,
    dependencies=[Depends(allowed_origin)],
    responses={
        200: {"description": "sets the pbx_refresh cookie (HttpOnly; SameSite=Strict; session path)"},
        401: _PROBLEMS[401],
        403: {"description": "email not verified, or a foreign Origin"},
        429: {"description": "too many attempts"},
    },
)
async def session_login(body: LoginIn, request: Request, ctx: Ctx) -> JSONResponse:
    """Log in for a browser: the access token in the body, the refresh token in the cookie."""
    return _session(await ctx.accounts.login(body, client_address(request)), request, ctx)


@router.post(
    "/auth/session/refresh",
    response_model=SessionOut,
    dependencies=[Depends(allowed_origin)],
    responses={**_SESSION_401, **_ORIGIN_403},
)
async def session_refresh(request: Request, ctx: Ctx, cookie: SessionCookie = None) -> JSONResponse:
    """Rotate the cookie's refresh token (the old one stops working) and return a new access token."""
    clear = {"Set-Cookie": clear_cookie(secure=_secure(request, ctx))}
    token = read_cookie(cookie)
    if token is None:
        raise AuthFailed("no session: log in again", headers=clear)
    try:
        pair = await ctx.accounts.refresh(token)
    except AuthFailed as exc:
        raise AuthFailed(f"{exc}; log in again", headers=clear) from exc
    return _session(pair, request, ctx)


@router.delete(
    "/auth/session",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[Depends(allowed_origin)],
    responses=_ORIGIN_403,
)
async def session_logout(request: Request, ctx: Ctx, cookie: SessionCookie = None) -> Response:
    """Revoke the cookie's refresh token family (if any) and clear the cookie."""
    token = read_cookie(cookie)
    if token is not None:
        await ctx.accounts.logout(token)
    clear = clear_cookie(secure=_secure(request, ctx))
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers={"Set-Cookie": clear})
