"""/devices: the calling user's push tokens (APNs, FCM)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel

from shared.directory.models.device import DeviceCreate, DeviceOut

from ..deps import Ctx, Who

router = APIRouter(prefix="/devices", tags=["devices"])


class DeviceList(BaseModel):
    items: list[DeviceOut]


@router.get("", response_model=DeviceList)
async def list_devices(ctx: Ctx, who: Who) -> DeviceList:
    return DeviceList(
        items=[DeviceOut.model_validate(d.doc.model_dump()) for d in await ctx.devices.list(who)]
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=DeviceOut,
    responses={200: {"description": "already registered", "model": DeviceOut}},
)
async def register_device(body: DeviceCreate, ctx: Ctx, who: Who, response: Response) -> DeviceOut:
    got, created = await ctx.devices.register(who, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return DeviceOut.model_validate(got.doc.model_dump())


@router.delete(
    "/{device_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={404: {"description": "no such device of yours"}},
)
async def delete_device(device_id: str, ctx: Ctx, who: Who) -> Response:
    await ctx.devices.delete(who, device_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
