"""Problem+json for every error the API answers (RFC 9457): the one place errors become HTTP.

- A `shared.errors.DomainError` carries its own status, `error_id` (the problem `type`), title,
  detail, extra members and headers, so one handler maps them all.
- FastAPI's request validation, Starlette's routing errors, a pydantic model rebuilt inside a
  service that does not validate, and the ConfigDB client's own errors (unreachable: 503; a key
  or request it refuses: 400) get the same shape here.
- Anything else is a 500 with the traceback logged.

Every problem has an `instance` (`urn:request:<id>`) naming the request, the same id as the
`X-Request-Id` response header and, unless the client named the request itself, the `trace_id` of
the request's log lines (else their `request_id`), so a user's report can be found in the logs.
Validation errors carry a JSON pointer per issue, so a client can show each message next to its
field.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.configdb import ConfigDBUnavailable, InvalidRequest
from shared.errors import DomainError
from shared.logs import request_id, trace_id
from shared.tracing import adopt_traceparent, span_traceparent

log = logging.getLogger("api.errors")
PROBLEM = "application/problem+json"


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
    name = request_id.get() or trace_id.get()
    if name:
        body["instance"] = f"urn:request:{name}"
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM, headers=headers)


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


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem(exc.status, exc.title, exc.detail, exc.error_id, exc.headers or None, **exc.details)


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


async def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning(
        "configuration store unreachable", extra={"event": "configdb_unavailable", "detail": str(exc)}
    )
    return problem(
        503,
        "Service unavailable",
        "the configuration store is unreachable; retry shortly",
        "unavailable",
        headers={"Retry-After": "1"},
    )


async def _store_refused(request: Request, exc: Exception) -> JSONResponse:
    """Safety net: input that slipped past validation and that the store refuses (e.g. a bad key)."""
    return problem(400, "Bad request", f"the request cannot be stored: {exc}", "bad-request")


async def _invalid_document(request: Request, exc: Exception) -> JSONResponse:
    """A model rebuilt inside a service (e.g. a patch applied to a stored document) did not validate."""
    assert isinstance(exc, ValidationError)
    errors = [
        {"pointer": pointer(e.get("loc", ())), "message": str(e.get("msg", "invalid")), "code": e.get("type")}
        for e in exc.errors()
    ]
    return problem(422, "Invalid request", "the result would not be valid", "validation", errors=errors)


def install_problems(app: FastAPI) -> None:
    """Map every error the app can raise to problem+json, and name each request."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(ValidationError, _invalid_document)
    app.add_exception_handler(ConfigDBUnavailable, _store_unavailable)
    app.add_exception_handler(InvalidRequest, _store_refused)
    app.add_exception_handler(Exception, _unexpected)


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class RequestIds:
    """Puts every request in a trace and names it.

    The trace: the client's W3C `traceparent` header when it is valid (with OpenTelemetry
    configured, the server span its instrumentation started from it), else a fresh one; it is the
    current trace context for the request (`shared.tracing`: queue messages and edge calls carry it
    on) and goes back as the `traceparent` response header. Every log line written while the
    request runs carries its `trace_id` (see `shared.logs`).

    The name: the client's `X-Request-Id` when it is sane (then also a `request_id` field of the
    log lines), else the trace id. It goes back as `X-Request-Id` and into every problem as
    `instance`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        # Not reset on the way out: the 500 handler runs outside this middleware, in the same
        # task, and its problem and log line must carry the ids too. Each request has its own task.
        traceparent = adopt_traceparent(span_traceparent() or headers.get("traceparent"))
        given = headers.get("x-request-id", "")
        named = given if _REQUEST_ID.fullmatch(given) else None
        request_id.set(named)
        name = named or traceparent[3:35]

        async def send_named(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.append("X-Request-Id", name)
                response_headers.append("traceparent", traceparent)
            await send(message)

        await self.app(scope, receive, send_named)
