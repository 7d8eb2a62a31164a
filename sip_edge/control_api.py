"""The edge's call-control HTTP API (port 7401), for the functions app.

Routes (JSON; errors are `application/problem+json`):

    GET    /healthz                         liveness: the process answers, 200 {"status": "ok"}
    GET    /readyz                          readiness: 200 when every check passes (SIP transports
                                            bound, ConfigDB snapshot loaded and its watch live, not
                                            draining), else 503 problem+json naming the failed ones
    GET    /health                          draining flag, active calls, config revision (details)
    GET    /metrics                         Prometheus text
    POST   /v1/calls                        click-to-call: {"tenant_id", "user_id", "destination",
                                            "max_duration_s", "max_concurrent_calls", "calls_per_minute"}
    POST   /v1/code-calls                   caller-ID verification: {"tenant_id", "number", "code",
                                            "caller_id"}: call the number, read out the code
    GET    /v1/tenants/{tenant_id}/calls    the tenant's active calls
    DELETE /v1/tenants/{tenant_id}/calls/{call_id}   hang a call up

Everything under `/v1` needs `Authorization: Bearer <EDGE_CONTROL_TOKEN>`; the probes, `/health`
and `/metrics` answer without it (they hold no tenant data). A call id of another
tenant answers 404, like an unknown one. A `traceparent` header (W3C trace context) on a call
request makes the caller's trace current for it (`traced`). The functions reach this API through
`shared.calls.ports.EdgeCallControl`; inside the edge, the API drives a `CallController`.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.calls.models import ActiveCall, ClickToCall, CodeCall
from shared.tracing import use_traceparent

MAX_BODY = 16 * 1024
__all__ = [
    "ActiveCall",
    "CallControlError",
    "CallController",
    "ClickToCall",
    "CodeCall",
    "create_control_app",
]


class CallControlError(Exception):
    """Raised by a `CallController` for a request it refuses; becomes a problem response, with a
    `reason` member naming the limit applied (`tenant-suspended`, `too-many-concurrent-calls`, ...)
    and `Retry-After` when given."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        reason: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.reason, self.retry_after = reason, retry_after


class CallController(Protocol):
    """What the control API drives inside the edge (`sip_edge.service.EdgeCalls`): the table of
    live calls, click-to-call, hang-up, health and metrics.

    Tenant-scoped: a call id of another tenant is treated as unknown. `click_to_call` starts the
    call and returns at once (state `ringing_user`); it is not idempotent (each request places a
    call) and raises `CallControlError` when it refuses (404 unknown user, 422 no phone to ring,
    403 a barred tenant, 429 a limit of the tenant, 503 draining or full). `hangup` returns
    False when the tenant has no such live call, so repeating it is harmless. `active_calls`,
    `health` and `metrics` only read.
    """

    async def click_to_call(self, request: ClickToCall) -> ActiveCall: ...

    async def code_call(self, request: CodeCall) -> ActiveCall:
        """Call the number and read out the code (404 unknown tenant, 503 draining or full)."""
        ...

    def active_calls(self, tenant_id: str) -> list[ActiveCall]: ...

    async def hangup(self, tenant_id: str, call_id: str) -> bool: ...

    def health(self) -> dict[str, Any]: ...

    def metrics(self) -> tuple[bytes, str]: ...


def problem(
    status: int, title: str, detail: str, *, retry_after: int | None = None, **extra: Any
) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response(
        orjson.dumps(body), status, headers=headers or None, media_type="application/problem+json"
    )


Body = TypeVar("Body", bound=BaseModel)


async def _read_body(request: Request, model: type[Body]) -> Body | Response:
    """The request's JSON body as `model`, or the problem answer (413, 422) to send instead."""
    raw = await request.body()
    if len(raw) > MAX_BODY:
        return problem(413, "Payload Too Large", f"the body is over {MAX_BODY} bytes")
    try:
        return model.model_validate_json(raw or b"{}")
    except ValidationError as exc:
        errors = [
            {"pointer": "/" + "/".join(str(p) for p in e["loc"]), "detail": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        return problem(422, "Invalid request", "the body does not validate", errors=errors)


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status, media_type="application/json")


Readiness = Callable[[], Mapping[str, str | None]]
"""The edge's readiness checks: check name -> None when it passes, else the reason it fails."""


def traced(request: Request, name: str) -> AbstractContextManager[str]:
    """The caller's trace (its `traceparent` header; a fresh trace without one) for one call-control
    request: the call it places, its log lines and its `call-ended` message carry the trace id, as
    do the tasks it starts (they inherit the context)."""
    return use_traceparent(request.headers.get("traceparent"), span_name=name, kind="server")


def create_control_app(control: CallController, token: str, readiness: Readiness | None = None) -> Starlette:
    """`readiness` defaults to the draining flag of `control.health()` alone."""
    expected = f"Bearer {token}".encode()

    def only_draining() -> Mapping[str, str | None]:
        return {"draining": "the edge is draining" if control.health().get("draining") else None}

    checks_of = readiness or only_draining

    def authorised(request: Request) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    async def health(request: Request) -> Response:
        info = control.health()
        return _json(info, 503 if info.get("draining") else 200)

    async def healthz(request: Request) -> Response:
        return _json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = dict(checks_of())
        failed = {name: reason for name, reason in checks.items() if reason is not None}
        summary = {name: reason or "ok" for name, reason in checks.items()}
        if failed:
            detail = "; ".join(f"{name}: {reason}" for name, reason in failed.items())
            return problem(503, "Not ready", detail, retry_after=1, failed=sorted(failed), checks=summary)
        return _json({"status": "ready", "checks": summary})

    async def metrics(request: Request) -> Response:
        body, content_type = control.metrics()
        return Response(body, 200, media_type=content_type)

    async def click_to_call(request: Request) -> Response:
        with traced(request, "edge click-to-call"):
            return await _click_to_call(request)

    async def _click_to_call(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "Unauthorized", "missing or wrong bearer token")
        body = await _read_body(request, ClickToCall)
        if isinstance(body, Response):
            return body
        try:
            call = await control.click_to_call(body)
        except CallControlError as exc:
            extra = {"reason": exc.reason} if exc.reason else {}
            return problem(exc.status, exc.title, exc.detail, retry_after=exc.retry_after, **extra)
        return _json(call.model_dump(), 202)

    async def code_call(request: Request) -> Response:
        with traced(request, "edge code-call"):
            return await _code_call(request)

    async def _code_call(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "Unauthorized", "missing or wrong bearer token")
        body = await _read_body(request, CodeCall)
        if isinstance(body, Response):
            return body
        try:
            call = await control.code_call(body)
        except CallControlError as exc:
            return problem(exc.status, exc.title, exc.detail, retry_after=exc.retry_after)
        return _json(call.model_dump(), 202)

    async def list_calls(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "Unauthorized", "missing or wrong bearer token")
        calls = control.active_calls(request.path_params["tenant_id"])
        return _json({"items": [c.model_dump() for c in calls]})

    async def hangup(request: Request) -> Response:
        with traced(request, "edge hangup"):
            return await _hangup(request)

    async def _hangup(request: Request) -> Response:
        if not authorised(request):
            return problem(401, "Unauthorized", "missing or wrong bearer token")
        tenant_id, call_id = request.path_params["tenant_id"], request.path_params["call_id"]
        if not await control.hangup(tenant_id, call_id):
            return problem(404, "Not Found", f"no active call {call_id!r} in this tenant")
        return Response(status_code=204)

    async def not_found(request: Request, exc: Exception) -> Response:
        return problem(404, "Not Found", f"no route {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return problem(405, "Method Not Allowed", f"{request.method} is not allowed on {request.url.path}")

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/v1/calls", click_to_call, methods=["POST"]),
            Route("/v1/code-calls", code_call, methods=["POST"]),
            Route("/v1/tenants/{tenant_id}/calls", list_calls, methods=["GET"]),
            Route("/v1/tenants/{tenant_id}/calls/{call_id}", hangup, methods=["DELETE"]),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
    )
