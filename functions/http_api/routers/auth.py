"""Sign-up, email verification, login, token refresh, logout and password reset."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from shared.services.accounts import (
    LoginIn,
    PasswordResetConfirmIn,
    PasswordResetIn,
    RefreshIn,
    SignupIn,
    SignupOut,
    TokenIn,
    TokenPair,
    VerifiedOut,
)

from ..deps import Ctx, client_address

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
    responses={307: {"description": "the region is served elsewhere"}, 409: _PROBLEMS[409]},
)
async def signup(body: SignupIn, ctx: Ctx) -> SignupOut:
    return await ctx.accounts.signup(body)


@router.post("/signup/verify", response_model=VerifiedOut, responses={400: _PROBLEMS[400]})
async def verify(body: TokenIn, ctx: Ctx) -> VerifiedOut:
    return await ctx.accounts.verify_email(body.token)


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


@router.post("/auth/password-reset", status_code=status.HTTP_202_ACCEPTED, response_class=Response)
async def password_reset(body: PasswordResetIn, ctx: Ctx) -> Response:
    await ctx.accounts.request_password_reset(body.email)
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
