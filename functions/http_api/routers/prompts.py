"""/prompts: audio prompts of the caller's tenant (upload, list, get, audio, delete).

Audio never goes through the function (AsgiFunctionApp buffers whole responses): uploads land
in Blob storage and are converted by the `prompt_convert` blob trigger; `GET /{id}/audio`
answers 302 to a read-only Blob SAS URL valid for 5 minutes, which serves Range requests.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, Response, UploadFile, status
from fastapi.responses import RedirectResponse

from shared.directory.models.prompt import Prompt, PromptList, PromptOut
from shared.directory.services.prompts import MAX_UPLOAD_BYTES, PromptsService

from .. import media_link
from ..deps import Ctx, Who, set_etag

# The body limit of these routes (enforced by the app's BodyLimit middleware): the file plus its
# multipart framing (boundaries, part headers and a name field).
MAX_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024


def prompts_service(ctx: Ctx) -> PromptsService:
    return ctx.prompts


Prompts = Annotated[PromptsService, Depends(prompts_service)]

router = APIRouter(prefix="/prompts", tags=["prompts"])

_NOT_FOUND = {404: {"description": "no such prompt in this account"}}


def _out(prompt: Prompt) -> PromptOut:
    return PromptOut.model_validate(prompt.model_dump())


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PromptOut,
    responses={
        403: {"description": "`quota-exceeded`: the account's prompt count or stored prompt bytes"},
        413: {"description": "over 10 MB"},
        415: {"description": "not a WAV or MP3 (by content), or a WAV not in PCM/float/A-law/mu-law"},
        422: {"description": "a rate outside 8-48 kHz, over 8 channels, or over 10 minutes (by header)"},
    },
)
async def upload_prompt(
    prompts: Prompts,
    who: Who,
    response: Response,
    file: Annotated[UploadFile, File(description="a WAV or MP3, at most 10 MB")],
    name: Annotated[str | None, Form(max_length=100)] = None,
) -> PromptOut:
    """Store the upload; the prompt is "processing" until the blob trigger converts it.

    The header is probed first (no decoding): what conversion would refuse is refused here."""
    data = await file.read(MAX_UPLOAD_BYTES + 1)
    got = await prompts.upload(who, data, name, file.filename)
    set_etag(response, got.revision)
    response.headers["Location"] = f"/api/v1/prompts/{got.doc.id}"
    return _out(got.doc)


@router.get("", response_model=PromptList)
async def list_prompts(prompts: Prompts, who: Who) -> PromptList:
    return PromptList(items=[_out(p.doc) for p in await prompts.list(who)])


@router.get("/{prompt_id}", response_model=PromptOut, responses=_NOT_FOUND)
async def get_prompt(prompt_id: str, prompts: Prompts, who: Who, response: Response) -> PromptOut:
    got = await prompts.get(who, prompt_id)
    set_etag(response, got.revision)
    return _out(got.doc)


@router.get(
    "/{prompt_id}/audio",
    status_code=status.HTTP_302_FOUND,
    response_class=RedirectResponse,
    responses={
        **media_link.responses("a read-only Blob SAS URL of the 8 kHz WAV, valid 5 minutes (serves Range)"),
        409: {"description": "not converted yet (processing) or conversion failed"},
        **_NOT_FOUND,
    },
)
async def prompt_audio(prompt_id: str, request: Request, prompts: Prompts, who: Who) -> Response:
    return media_link.media_response(request, await prompts.audio_url(who, prompt_id))


@router.delete(
    "/{prompt_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses={403: {"description": "members cannot delete prompts"}, **_NOT_FOUND},
)
async def delete_prompt(prompt_id: str, prompts: Prompts, who: Who) -> Response:
    await prompts.delete(who, prompt_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
