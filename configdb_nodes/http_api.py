"""The node's HTTP data, status and discovery routes (Starlette).

Handlers parse and validate, call the node, and shape the answer; errors are
`application/problem+json`. See docs/configdb-protocol.md.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.asgi_drain import DrainUnreadBody

from .auth import TokenScope, TokenTable
from .commands import Command, Op, Result
from .keys import MAX_VALUE_BYTES, InvalidKey, validate_key, validate_prefix
from .metrics import CONTENT_TYPE
from .node import Node, NoLeader, Timeout
from .topology import Topology

MAX_TXN_BODY = 8 * MAX_VALUE_BYTES


class Problem(Exception):
    def __init__(self, status: int, title: str, detail: str, **extra: Any) -> None:
        self.status, self.title, self.detail, self.extra = status, title, detail, extra


def problem_response(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/problem+json")


def ok(body: Any) -> Response:
    return Response(orjson.dumps(body), 200, media_type="application/json")


# Answered without a token: liveness, readiness and metrics hold no key, value or tenant data
# (only the node's id, role, term and indexes), and a probe or a Prometheus scraper carries no
# ConfigDB token. The node's HTTP port is on the private network either way.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


class BearerAuth:
    """Pure ASGI middleware: every HTTP request but those to `PUBLIC_PATHS` must carry one of the
    node's client tokens; its scope goes to `request.state.token_scope` for the handlers to
    check (auth.py)."""

    def __init__(self, app: ASGIApp, tokens: TokenTable) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in PUBLIC_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            kind, _, token = given.partition(b" ")
            found = self.tokens.lookup(token.decode("latin-1")) if kind.lower() == b"bearer" else None
            if found is None:
                resp = problem_response(
                    401,
                    "Unauthorized",
                    "missing or wrong bearer token",
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await resp(scope, receive, send)
                return
            scope.setdefault("state", {})["token_scope"] = found
        await self.app(scope, receive, send)


def _may_read(request: Request, key_or_prefix: str) -> None:
    scope: TokenScope = request.state.token_scope
    if not scope.may_read(key_or_prefix):
        raise Problem(403, "Forbidden", f"{scope.describe()} may not read {key_or_prefix!r}")


def _may_write(request: Request, keys: list[str]) -> None:
    scope: TokenScope = request.state.token_scope
    if scope.access == "read":
        raise Problem(403, "Forbidden", f"{scope.describe()} may not write")
    for key in keys:
        if not scope.may_write(key):
            raise Problem(403, "Forbidden", f"{scope.describe()} may not write {key!r}")


# ---- request parsing ----------------------------------------------------------------
def _key(request: Request) -> str:
    key = request.path_params["key"]
    try:
        validate_key(key)
    except InvalidKey as exc:
        raise Problem(400, "Invalid key", str(exc)) from exc
    return key


def _int_param(request: Request, name: str, minimum: int = 0, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Problem(400, f"Invalid {name}", f"{name} must be an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise Problem(400, f"Invalid {name}", f"{name} must be {bound}")
    return value


def _request_id(request: Request, body_rid: str | None = None) -> str:
    rid = body_rid or request.query_params.get("request_id") or request.headers.get("idempotency-key")
    if rid is None:
        return uuid.uuid4().hex
    if not 1 <= len(rid) <= 128 or any(ord(c) < 0x20 for c in rid):
        raise Problem(400, "Invalid request_id", "request_id must be 1-128 printable characters")
    return rid


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Value too large", f"the body exceeds {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Problem(413, "Value too large", f"the body exceeds {limit} bytes")
    return body


def _json_value(body: bytes) -> bytes:
    """Validate the body as one JSON value; return it in compact canonical form."""
    try:
        return orjson.dumps(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "Invalid JSON", f"the body is not valid JSON: {exc}") from None


class TxnCompare(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str
    revision: int = Field(ge=0)

    @field_validator("key")
    @classmethod
    def _valid_key(cls, v: str) -> str:
        validate_key(v)
        return v


class TxnOp(BaseModel):
    model_config = ConfigDict(extra="forbid")
    put: str | None = None
    delete: str | None = None
    value: Any = None

    def to_op(self) -> Op:
        if (self.put is None) == (self.delete is None):
            raise ValueError("an op holds exactly one of 'put' or 'delete'")
        key = self.put if self.put is not None else self.delete
        assert key is not None
        validate_key(key)
        if self.put is not None:
            if "value" not in self.model_fields_set:
                raise ValueError(f"put of {key!r} has no 'value'")
            return Op(key, orjson.dumps(self.value))
        return Op(key, None)


class TxnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    compare: list[TxnCompare] = Field(default_factory=list, max_length=1000)
    success: list[TxnOp] = Field(default_factory=list, max_length=1000)
    failure: list[TxnOp] = Field(default_factory=list, max_length=1000)
    request_id: str | None = None


# ---- handlers -----------------------------------------------------------------------
class Api:
    def __init__(self, node: Node, topology: Topology | None, region: str, shard: str) -> None:
        self.node = node
        self.topology = topology
        self.region = region
        self.shard = shard

    async def _commit(self, cmd: Command) -> Result:
        try:
            return await self.node.propose(cmd)
        except NoLeader:
            raise Problem(503, "No leader", "the shard has no leader right now; retry shortly") from None
        except Timeout:
            raise Problem(
                504,
                "Outcome unknown",
                "the write did not finish in time; retry with the same request_id",
                request_id=cmd.rid,
            ) from None

    async def _barrier(self, request: Request) -> None:
        if request.query_params.get("consistent", "false").lower() in ("1", "true", "yes"):
            try:
                await self.node.read_barrier()
            except NoLeader:
                raise Problem(503, "No leader", "a linearizable read needs a leader") from None
            except Timeout:
                raise Problem(504, "Read timed out", "the read index was not confirmed in time") from None

    def _single(self, request: Request, kind: str, key: str, value: bytes | None) -> Command:
        prev = _int_param(request, "prev_revision")
        compare = [(key, prev)] if prev is not None else []
        return Command(kind, _request_id(request), compare, [Op(key, value)])

    async def put(self, request: Request) -> Response:
        key = _key(request)
        _may_write(request, [key])
        value = _json_value(await _body(request, MAX_VALUE_BYTES))
        result = await self._commit(self._single(request, "put", key, value))
        return self._single_answer(key, result)

    async def delete(self, request: Request) -> Response:
        key = _key(request)
        _may_write(request, [key])
        result = await self._commit(self._single(request, "delete", key, None))
        return self._single_answer(key, result)

    @staticmethod
    def _single_answer(key: str, result: Result) -> Response:
        if result.status == "compare_failed":
            return problem_response(
                409,
                "Compare failed",
                f"the revision of {key!r} is {result.revision}",
                revision=result.revision,
            )
        if result.status == "not_found":
            return problem_response(404, "Not found", f"no key {key!r}")
        return ok({"revision": result.revision})

    async def get(self, request: Request) -> Response:
        key = _key(request)
        _may_read(request, key)
        await self._barrier(request)
        got = self.node.store.get(key.encode())
        if got is None:
            return problem_response(404, "Not found", f"no key {key!r}")
        value, rev = got
        body = (
            b'{"key":' + orjson.dumps(key) + b',"value":' + value + b',"revision":' + str(rev).encode() + b"}"
        )
        return Response(body, 200, media_type="application/json")

    async def list(self, request: Request) -> Response:
        prefix = request.query_params.get("prefix", "")
        after = request.query_params.get("after")
        try:
            pfx = validate_prefix(prefix)
            after_b = validate_key(after) if after is not None else None
        except InvalidKey as exc:
            raise Problem(400, "Invalid key", str(exc)) from exc
        _may_read(request, prefix)
        limit = _int_param(request, "limit", 1, 10_000) or 1000
        await self._barrier(request)
        snap = self.node.store.snapshot()
        revision = self.node.store.meta.revision
        items = []
        nxt = None
        for k, v, rev in self.node.store.scan(pfx, after_b, snapshot=snap):
            if len(items) == limit:
                nxt = items[-1][0]
                break
            items.append((k.decode(), v, rev))
        parts = [
            b'{"key":' + orjson.dumps(k) + b',"value":' + v + b',"revision":' + str(r).encode() + b"}"
            for k, v, r in items
        ]
        body = (
            b'{"items":['
            + b",".join(parts)
            + b'],"revision":'
            + str(revision).encode()
            + b',"next":'
            + orjson.dumps(nxt)
            + b"}"
        )
        return Response(body, 200, media_type="application/json")

    async def txn(self, request: Request) -> Response:
        body = await _body(request, MAX_TXN_BODY)
        try:
            req = TxnRequest.model_validate_json(body)
            success = [o.to_op() for o in req.success]
            failure = [o.to_op() for o in req.failure]
        except ValidationError as exc:
            errors = [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors(include_url=False)]
            raise Problem(
                400, "Invalid transaction", "the transaction does not validate", errors=errors
            ) from None
        except (ValueError, InvalidKey) as exc:
            raise Problem(400, "Invalid transaction", str(exc)) from None
        # A transaction is a write as a whole: every key it compares or touches is in scope, or none runs.
        _may_write(request, [c.key for c in req.compare] + [op.key for op in success + failure])
        cmd = Command(
            "txn",
            _request_id(request, req.request_id),
            [(c.key, c.revision) for c in req.compare],
            success,
            failure,
        )
        result = await self._commit(cmd)
        return ok({"succeeded": result.succeeded, "revision": result.revision})

    async def status(self, request: Request) -> Response:
        return ok({**self.node.status(), "shard": self.shard, "region": self.region})

    async def healthz(self, request: Request) -> Response:
        """Liveness: the process answers. Touches nothing else."""
        return ok({"status": "ok", "node_id": self.node.opts.node_id})

    async def readyz(self, request: Request) -> Response:
        """Readiness (Node.readiness): a known leader of the current term, and applied up to the
        commit index; else 503 problem+json saying why."""
        reason = await self.node.readiness()
        st = self.node.gauges()
        facts = {
            "node_id": self.node.opts.node_id,
            "role": st.role.value,
            "term": st.term,
            "commit_index": st.commit_index,
            "applied_index": st.applied_index,
        }
        if reason is not None:
            return problem_response(503, "Not ready", reason, headers={"Retry-After": "1"}, **facts)
        return ok({"status": "ready", **facts})

    async def metrics(self, request: Request) -> Response:
        return Response(self.node.metrics.render(), 200, media_type=CONTENT_TYPE)

    def _local_nodes(self) -> list[dict[str, Any]]:
        st = self.node.status()
        nodes = [{"node_id": st["node_id"], "http": st["http"], "stream": st["stream"]}]
        nodes += [
            {"node_id": p["node_id"], "http": p["http"], "stream": p["stream"]}
            for p in st["peers"]
            if p["http"]
        ]  # type: ignore[union-attr]
        return sorted(nodes, key=lambda n: str(n["node_id"]))

    async def discovery(self, request: Request) -> Response:
        tenant = request.query_params.get("tenant")
        number = request.query_params.get("number")
        if (tenant is None) == (number is None):
            raise Problem(400, "Invalid query", "give exactly one of 'tenant' or 'number'")
        if number is not None:
            got = self.node.store.get(f"idx/number/{number}".encode())
            if got is None:
                return problem_response(404, "Unknown number", f"{number} is not assigned to a tenant")
            ref = orjson.loads(got[0])
            tenant = ref if isinstance(ref, str) else str(ref.get("tenant_id") or ref.get("tenant"))
        assert tenant is not None
        if not tenant or len(tenant) > 128:
            raise Problem(400, "Invalid tenant", "tenant must be 1-128 characters")
        region = self.region
        got = self.node.store.get(f"idx/tenant/{tenant}".encode())
        if got is not None:
            ref = orjson.loads(got[0])
            if isinstance(ref, dict) and isinstance(ref.get("region"), str):
                region = ref["region"]
        body: dict[str, Any]
        if self.topology is not None and region in self.topology.regions:
            body = self.topology.placement(region, tenant)
        else:
            body = {"region": region, "shard": self.shard, "nodes": self._local_nodes()}
        if number is not None:
            body["tenant"] = tenant
        return ok(body)


async def _not_found(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return problem_response(
            exc.status_code, "Not found" if exc.status_code == 404 else "Bad request", str(exc.detail)
        )
    return problem_response(404, "Not found", "no such route")


async def _problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    headers = {"Retry-After": "1"} if exc.status == 503 else None
    return problem_response(exc.status, exc.title, exc.detail, headers=headers, **exc.extra)


async def _invalid_key(request: Request, exc: Exception) -> Response:
    return problem_response(400, "Invalid key", str(exc))


def create_app(node: Node, tokens: TokenTable, topology: Topology | None, region: str, shard: str) -> ASGIApp:
    api = Api(node, topology, region, shard)
    routes = [
        Route("/v1/kv/{key:path}", api.get, methods=["GET"]),
        Route("/v1/kv/{key:path}", api.put, methods=["PUT"]),
        Route("/v1/kv/{key:path}", api.delete, methods=["DELETE"]),
        Route("/v1/kv", api.list, methods=["GET"]),
        Route("/v1/txn", api.txn, methods=["POST"]),
        Route("/v1/status", api.status, methods=["GET"]),
        Route("/v1/discovery", api.discovery, methods=["GET"]),
        Route("/healthz", api.healthz, methods=["GET"]),
        Route("/readyz", api.readyz, methods=["GET"]),
        Route("/metrics", api.metrics, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _not_found, Problem: _problem, InvalidKey: _invalid_key},
    )
    return DrainUnreadBody(BearerAuth(app, tokens))  # a 413 or 401 before the body: still read
