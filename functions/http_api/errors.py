"""Problem+json for every error the API answers (RFC 9457).

Routers raise `ApiError` (or a subclass); FastAPI's own validation and routing errors are
mapped to the same shape. Validation errors carry a JSON pointer per issue, so a client
can show each message next to its field.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("api.errors")
PROBLEM = "application/problem+json"


class ApiError(Exception):
    """An error with a status, a stable id and details (wazo's APIException shape)."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        error_id: str = "error",
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.error_id = status, title, detail, error_id
        self.headers = headers
        self.extra = extra


def problem(
    status: int, title: str, detail: str, error_id: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "type": f"https://errors.cloudpbx.example/{error_id}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def pointer(loc: tuple[Any, ...] | list[Any]) -> str:
    """FastAPI's error location ("body", "options", 3, "digit") as a JSON pointer ("/options/3/digit")."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        where = parts.pop(0)
        if where != "body":
            return f"#{where}/" + "/".join(str(p) for p in parts)
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return problem(exc.status, exc.title, exc.detail, exc.error_id, exc.headers, **exc.extra)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"pointer": pointer(e.get("loc", ())), "message": str(e.get("msg", "invalid")), "code": e.get("type")}
        for e in exc.errors()
    ]
    return problem(422, "Invalid request", "the request does not validate", "validation", errors=errors)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
    title = titles.get(exc.status_code, "Request refused")
    return problem(
        exc.status_code,
        title,
        str(exc.detail),
        title.lower().replace(" ", "-"),
        headers=getattr(exc, "headers", None),
        **({"limit": exc.limit} if isinstance(getattr(exc, "limit", None), int) else {}),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "something went wrong on our side; it has been logged", "internal")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _unexpected)
