"""`shared.calls.ports.EdgeCallControl` over HTTP: the SIP edge's call-control API
(sip_edge/control_api.py).

    POST   {base}/v1/calls                              {"tenant_id","user_id","destination", limits} -> 202
    GET    {base}/v1/tenants/{tenant_id}/calls          -> {"items": [...]}
    DELETE {base}/v1/tenants/{tenant_id}/calls/{id}     -> 204, or 404 when there is no such call

Errors are mapped at this boundary: no connection, a timeout, a 5xx, a wrong token (401, or a
403 that names no `reason`: a deployment mistake the user cannot fix) or an unreadable answer ->
`Unavailable`; any other 4xx -> `CallRefused(status, detail, reason=, retry_after=)`, with the
problem's `reason` member (the edge's refusals: `tenant-suspended`, `too-many-concurrent-calls`,
...) and `Retry-After`. httpx never escapes.

Each request carries the current trace context as a `traceparent` header (`shared.tracing`), so
the call the edge places is logged under the trace of the API request that asked for it.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter, ValidationError

from shared.calls.errors import CallRefused
from shared.calls.models import ActiveCall, CallLimits, ClickToCall, CodeCall
from shared.errors import Unavailable
from shared.tracing import current_traceparent

log = logging.getLogger("shared.adapters.edge_control")

_CALLS = TypeAdapter(list[ActiveCall])


class HttpEdgeControl:
    """One edge's control API. Owns an `httpx.AsyncClient`; `aclose()` it when done."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            transport=transport,
        )

    async def click_to_call(
        self,
        tenant_id: str,
        user_id: str,
        destination: str,
        *,
        limits: CallLimits | None = None,
        caller_id: str | None = None,
    ) -> ActiveCall:
        body = ClickToCall(
            tenant_id=tenant_id,
            user_id=user_id,
            destination=destination,
            caller_id=caller_id,
            **(limits.model_dump() if limits is not None else {}),
        )
        r = await self._request("POST", "/v1/calls", json=body.model_dump(exclude_none=True))
        return self._parse(r, lambda doc: ActiveCall.model_validate(doc))

    async def code_call(self, tenant_id: str, number: str, code: str, caller_id: str | None) -> ActiveCall:
        body = CodeCall(tenant_id=tenant_id, number=number, code=code, caller_id=caller_id)
        r = await self._request("POST", "/v1/code-calls", json=body.model_dump(exclude_none=True))
        return self._parse(r, lambda doc: ActiveCall.model_validate(doc))

    async def active_calls(self, tenant_id: str) -> list[ActiveCall]:
        r = await self._request("GET", f"/v1/tenants/{_seg(tenant_id)}/calls")
        return self._parse(r, lambda doc: _CALLS.validate_python(doc["items"]))

    async def hang_up(self, tenant_id: str, call_id: str) -> bool:
        path = f"/v1/tenants/{_seg(tenant_id)}/calls/{_seg(call_id)}"
        try:
            await self._request("DELETE", path)
        except CallRefused as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- internals

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        traceparent = current_traceparent()
        if traceparent is not None:  # the edge continues the caller's trace (sip_edge/control_api.py)
            kwargs["headers"] = {**kwargs.get("headers", {}), "traceparent": traceparent}
        try:
            r = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            log.warning(
                "edge control unreachable",
                extra={"event": "edge_control_unreachable", "url": self.base_url, "error": repr(exc)},
            )
            raise Unavailable(f"the call service at {self.base_url} is unreachable") from exc
        if r.status_code < 400:
            return r
        detail, reason = _detail(r), _reason(r)
        if r.status_code >= 500 or r.status_code == 401 or (r.status_code == 403 and reason is None):
            log.warning(
                "edge control failed",
                extra={"event": "edge_control_failed", "status": r.status_code, "detail": detail},
            )
            raise Unavailable(f"the call service answered {r.status_code}: {detail}")
        retry = r.headers.get("retry-after", "")
        raise CallRefused(
            r.status_code, detail, reason=reason, retry_after=int(retry) if retry.isdigit() else None
        )

    def _parse(self, r: httpx.Response, build: Any) -> Any:
        try:
            return build(r.json())
        except (ValueError, KeyError, TypeError, ValidationError) as exc:
            log.warning(
                "edge control answer unreadable",
                extra={"event": "edge_control_bad_answer", "status": r.status_code, "error": repr(exc)},
            )
            raise Unavailable("the call service gave an answer that cannot be read") from exc


def _seg(value: str) -> str:
    """One URL path segment: nothing in `value` can reach another route."""
    return quote(value, safe="")


def _reason(r: httpx.Response) -> str | None:
    """The problem's `reason` member: which of its limits the edge applied."""
    try:
        doc = r.json()
    except ValueError:
        return None
    reason = doc.get("reason") if isinstance(doc, dict) else None
    return reason if isinstance(reason, str) and 0 < len(reason) <= 64 else None


def _detail(r: httpx.Response) -> str:
    try:
        doc = r.json()
    except ValueError:
        return r.text[:200] or r.reason_phrase
    if isinstance(doc, dict):
        return str(doc.get("detail") or doc.get("title") or r.reason_phrase)
    return r.reason_phrase
