"""/ivr-menus: the IVR menus (auto attendants) of the caller's tenant.

A rejected configuration change answers 422 with every issue (`errors: [{pointer, code,
message}]`, and `references` naming who still points at a menu being deleted).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel

from shared.directory.models.ivr import IvrMenuCreate, IvrMenuOut, IvrMenuUpdate
from shared.directory.services.menus import MenusService

from ..deps import Ctx, IfMatch, Who, set_etag


def menus_service(ctx: Ctx) -> MenusService:
    return ctx.menus


Menus = Annotated[MenusService, Depends(menus_service)]

router = APIRouter(prefix="/ivr-menus", tags=["ivr-menus"])


class MenuList(BaseModel):
    items: list[IvrMenuOut]


_CHANGE = {
    403: {"description": "not allowed (members only read), or `quota-exceeded` (menus per account)"},
    404: {"description": "no such menu"},
    412: {"description": "stale If-Match"},
    422: {"description": "missing target, duplicate digit, endless loop, or menu still in use"},
}


@router.get("", response_model=MenuList)
async def list_menus(menus: Menus, who: Who) -> MenuList:
    return MenuList(items=[IvrMenuOut.from_menu(m.doc) for m in await menus.list(who)])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=IvrMenuOut, responses=_CHANGE)
async def create_menu(body: IvrMenuCreate, menus: Menus, who: Who, response: Response) -> IvrMenuOut:
    got = await menus.create(who, body)
    set_etag(response, got.revision)
    response.headers["Location"] = f"/api/v1/ivr-menus/{got.doc.id}"
    return IvrMenuOut.from_menu(got.doc)


@router.get("/{menu_id}", response_model=IvrMenuOut, responses={404: _CHANGE[404]})
async def get_menu(menu_id: str, menus: Menus, who: Who, response: Response) -> IvrMenuOut:
    got = await menus.get(who, menu_id)
    set_etag(response, got.revision)
    return IvrMenuOut.from_menu(got.doc)


@router.patch("/{menu_id}", response_model=IvrMenuOut, responses=_CHANGE)
async def update_menu(
    menu_id: str, body: IvrMenuUpdate, menus: Menus, who: Who, expected: IfMatch, response: Response
) -> IvrMenuOut:
    got = await menus.update(who, menu_id, body, expected)
    set_etag(response, got.revision)
    return IvrMenuOut.from_menu(got.doc)


@router.delete(
    "/{menu_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=_CHANGE
)
async def delete_menu(menu_id: str, menus: Menus, who: Who, expected: IfMatch) -> Response:
    await menus.delete(who, menu_id, expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
