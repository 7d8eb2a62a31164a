"""How the audio routes hand out a signed Blob URL (voicemail audio, prompt audio, recordings).

Audio never goes through the function: the routes answer with a read-only SAS URL valid for
5 minutes that serves HTTP Range. By default that is a 302 to the URL (mobile players follow it,
sending the bearer token only to the API). An `<audio>` element cannot send a bearer token, so a
browser asks with `Accept: application/json` and gets `{"url", "expires_at"}` to put in `src`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import AwareDatetime, BaseModel

DEFAULT_TTL = dt.timedelta(minutes=5)
_HEADERS = {"Cache-Control": "no-store", "Vary": "Accept"}


class MediaLink(BaseModel):
    url: str
    expires_at: AwareDatetime


def responses(description: str) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entries of a media route's two answers."""
    return {
        200: {"model": MediaLink, "description": f"with Accept: application/json: {description}, as JSON"},
        302: {"description": f"Location: {description}"},
    }


def wants_json(accept: str | None) -> bool:
    """True when the Accept header names application/json with a non-zero quality."""
    for part in (accept or "").split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        if kind.lower() != "application/json":
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def expiry_of(url: str, now: dt.datetime) -> dt.datetime:
    """The SAS URL's signed expiry (`se`), else `now` + the default 5 minutes."""
    values = parse_qs(urlsplit(url).query).get("se")
    if values:
        try:
            parsed = dt.datetime.fromisoformat(values[0].replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(dt.UTC)
    return now + DEFAULT_TTL


def media_response(request: Request, url: str) -> Response:
    """302 to the signed URL, or 200 `MediaLink` JSON when the client asked for JSON."""
    if wants_json(request.headers.get("accept")):
        link = MediaLink(url=url, expires_at=expiry_of(url, dt.datetime.now(dt.UTC)))
        return JSONResponse(link.model_dump(mode="json"), headers=_HEADERS)
    return RedirectResponse(url, status_code=status.HTTP_302_FOUND, headers=_HEADERS)
