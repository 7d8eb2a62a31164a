"""/users: staff of the caller's tenant."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel

from shared.directory.models.user import User, UserCreate, UserOut, UserUpdate
from shared.documents import Versioned

from ..deps import Ctx, IfMatch, Who, client_address, set_etag

router = APIRouter(prefix="/users", tags=["users"])


class UserList(BaseModel):
    items: list[UserOut]


_CHANGE = {
    403: {
        "description": "not allowed; `current-password`: your own password or email needs "
        "current_password; `password-set-by-user`: send a reset link instead; `quota-exceeded`: "
        "users per account"
    },
    404: {"description": "no such user"},
    409: {"description": "email or extension taken, or last owner"},
    412: {"description": "stale If-Match"},
}


# A user's API shape, per stored revision: a key at one revision always holds the same document,
# so the shape is made once per change rather than once per listing (bounded; cleared when full).
_SHAPES: dict[tuple[str, str, int], UserOut] = {}
_MAX_SHAPES = 50_000


def _shape(u: Versioned[User]) -> UserOut:
    slot = (u.doc.tenant_id, u.doc.id, u.revision)
    out = _SHAPES.get(slot)
    if out is None:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        out = _SHAPES[slot] = u.doc.to_out()
    return out


@router.get("", response_model=UserList)
async def list_users(ctx: Ctx, who: Who) -> UserList:
    return UserList(items=[_shape(u) for u in await ctx.users.list(who)])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserOut, responses=_CHANGE)
async def create_user(body: UserCreate, ctx: Ctx, who: Who, response: Response) -> UserOut:
    got = await ctx.users.create(who, body)
    set_etag(response, got.revision)
    response.headers["Location"] = f"/api/v1/users/{got.doc.id}"
    return got.doc.to_out()


@router.get("/{user_id}", response_model=UserOut, responses={404: _CHANGE[404]})
async def get_user(user_id: str, ctx: Ctx, who: Who, response: Response) -> UserOut:
    got = await ctx.users.get(who, user_id)
    set_etag(response, got.revision)
    return got.doc.to_out()


@router.patch("/{user_id}", response_model=UserOut, responses=_CHANGE)
async def update_user(
    user_id: str, body: UserUpdate, ctx: Ctx, who: Who, expected: IfMatch, response: Response
) -> UserOut:
    """A new `email` is pending (`pending_email`) until the link sent to it is followed."""
    got = await ctx.users.update(who, user_id, body, expected)
    set_etag(response, got.revision)
    return got.doc.to_out()


@router.post(
    "/{user_id}/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses={403: _CHANGE[403], 404: _CHANGE[404], 429: {"description": "too many resets"}},
)
async def send_password_reset(user_id: str, request: Request, ctx: Ctx, who: Who) -> Response:
    """Email the user a link to set a new password (admins never set another user's password)."""
    target = await ctx.users.password_reset_target(who, user_id)
    await ctx.accounts.request_password_reset(target.email, client_address(request))
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.delete(
    "/{user_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=_CHANGE
)
async def delete_user(user_id: str, ctx: Ctx, who: Who, expected: IfMatch) -> Response:
    await ctx.users.delete(who, user_id, expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
