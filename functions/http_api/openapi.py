"""The OpenAPI document says what errors really look like: `application/problem+json`.

FastAPI documents its own 422 shape (`HTTPValidationError`) and leaves the other error statuses
without content. This post-processing (pure, on the generated dict) gives every error response
the `Problem` schema, and adds the statuses every operation of a kind can answer:
401 and 307 (tenant homed in another region) on bearer routes, 413 on routes with a body, and a
`default` problem for the rest (429, 503, ...). Clients and schemathesis then check every error
body against the schema.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "An RFC 9457 problem. Validation problems list each issue with a JSON pointer.",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["pointer", "message"],
                "properties": {
                    "pointer": {"type": "string"},
                    "message": {"type": "string"},
                    "code": {"type": ["string", "null"]},
                },
            },
        },
    },
    "additionalProperties": True,
}

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": dict(PROBLEM_REF)}}


def _is_problem_status(code: str) -> bool:
    return code == "default" or code == "307" or (code.isdigit() and int(code) >= 400)


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite `schema` in place (and return it): see the module docstring."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path_item in schema.get("paths", {}).values():
        for method in _METHODS:
            op = path_item.get(method)
            if op is None:
                continue
            responses = op.setdefault("responses", {})
            if op.get("security"):
                responses.setdefault("401", {"description": "missing, invalid or expired access token"})
                responses.setdefault(
                    "307",
                    {"description": "the tenant is served in another region: the same route there"},
                )
            if "requestBody" in op:
                responses.setdefault("413", {"description": "the body is over the route's size limit"})
            responses.setdefault("default", {"description": "any other error, e.g. 429 or 503"})
            for code, response in responses.items():
                if not _is_problem_status(code):
                    continue
                response["content"] = _problem_content()
                if code == "307":
                    response.setdefault("headers", {})["Location"] = {
                        "description": "the URL to repeat the request at",
                        "schema": {"type": "string"},
                    }
    if "#/components/schemas/HTTPValidationError'" not in repr(schema.get("paths", {})):
        for name in _FASTAPI_VALIDATION:  # FastAPI's 422 shape, now unused
            schema["components"]["schemas"].pop(name, None)
    return schema


def install_problem_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and so /api/openapi.json) return the post-processed document."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_problems(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
