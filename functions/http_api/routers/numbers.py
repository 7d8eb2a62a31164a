"""/numbers: the phone numbers (DIDs) of the caller's tenant and where their calls start."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status
from pydantic import BaseModel

from shared.directory.models.inventory import AvailableNumber
from shared.directory.models.number import Number, NumberCreate, NumberOut, NumberUpdate
from shared.directory.services.numbers import NumbersService

from ..deps import Ctx, IfMatch, Who, set_etag


def numbers_service(ctx: Ctx) -> NumbersService:
    return ctx.numbers


Numbers = Annotated[NumbersService, Depends(numbers_service)]

router = APIRouter(prefix="/numbers", tags=["numbers"])


class NumberList(BaseModel):
    items: list[NumberOut]


class AvailableList(BaseModel):
    items: list[AvailableNumber]


_CHANGE = {
    403: {"description": "not allowed (members only read), or `quota-exceeded` (numbers per account)"},
    404: {"description": "no such number in this account"},
    409: {"description": "the number is already assigned, or in quarantine after a release"},
    412: {"description": "stale If-Match"},
    422: {"description": "the entry point does not exist, or the number is not in the inventory"},
}


def _out(number: Number) -> NumberOut:
    return NumberOut.model_validate(number.model_dump())


@router.get("", response_model=NumberList)
async def list_numbers(numbers: Numbers, who: Who) -> NumberList:
    return NumberList(items=[_out(n.doc) for n in await numbers.list(who)])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=NumberOut, responses=_CHANGE)
async def create_number(body: NumberCreate, numbers: Numbers, who: Who, response: Response) -> NumberOut:
    got = await numbers.create(who, body)
    set_etag(response, got.revision)
    response.headers["Location"] = f"/api/v1/numbers/{got.doc.number}"
    return _out(got.doc)


@router.get("/available", response_model=AvailableList, responses={400: {"description": "bad prefix"}})
async def available_numbers(
    numbers: Numbers,
    who: Who,
    prefix: Annotated[str | None, Query(max_length=16, description="digits the number starts with")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> AvailableList:
    """Numbers of the operator's inventory that this account can claim now (free, in its region)."""
    got = await numbers.available(who, prefix, limit)
    return AvailableList(items=[AvailableNumber.model_validate(n.model_dump()) for n in got])


@router.get("/{e164}", response_model=NumberOut, responses={404: _CHANGE[404]})
async def get_number(e164: str, numbers: Numbers, who: Who, response: Response) -> NumberOut:
    got = await numbers.get(who, e164)
    set_etag(response, got.revision)
    return _out(got.doc)


@router.patch("/{e164}", response_model=NumberOut, responses=_CHANGE)
async def update_number(
    e164: str, body: NumberUpdate, numbers: Numbers, who: Who, expected: IfMatch, response: Response
) -> NumberOut:
    got = await numbers.update(who, e164, body, expected)
    set_etag(response, got.revision)
    return _out(got.doc)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=_CHANGE)
async def delete_number_by_query(number: str, numbers: Numbers, who: Who, expected: IfMatch) -> Response:
    """The same as `DELETE /numbers/{e164}`, with the number in `?number=`."""
    await numbers.delete(who, number, expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/{e164}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, responses=_CHANGE)
async def delete_number(e164: str, numbers: Numbers, who: Who, expected: IfMatch) -> Response:
    await numbers.delete(who, e164, expected)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
