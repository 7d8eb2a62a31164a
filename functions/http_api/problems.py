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


def pointer(loc: tuple[Any, ...] | list[Any], body: Any = None) -> str:
    """FastAPI's error location ("body", "options", 3, "digit") as a JSON pointer ("/options/3/digit").

    Given the request `body`, the tag pydantic inserts for a discriminated union
    (("body", "action", "go_menu", "menu_id") for {"action": {"type": "go_menu", ...}}) is dropped,
    so the pointer names a place in the document the client sent: "/action/menu_id".
    """
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = ["body", *_without_union_tags(parts[1:], body)]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where = parts.pop(0)
        if where != "body":
            return f"#{where}/" + "/".join(str(p) for p in parts)
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""


def _without_union_tags(parts: list[Any], body: Any) -> list[Any]:
    out: list[Any] = []
    node = body
    for i, part in enumerate(parts):
        in_dict = isinstance(node, dict) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_dict or in_list:
            node = node[part]
            out.append(part)
        elif isinstance(node, dict) and isinstance(part, str) and part in node.values():
            continue  # the union's tag: not a key of the document
        else:
            return [*out, *parts[i:]]
    return out


def _message(msg: Any) -> str:
    """pydantic prefixes a validator's own ValueError text with "Value error, "; drop it."""
    text = str(msg or "invalid")
    return text.removeprefix("Value error, ").removeprefix("Assertion failed, ")


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return problem(exc.status, exc.title, exc.detail, exc.error_id, exc.headers, **exc.extra)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "pointer": pointer(e.get("loc", ()), exc.body),
            "message": _message(e.get("msg")),
            "code": e.get("type"),
        }
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
