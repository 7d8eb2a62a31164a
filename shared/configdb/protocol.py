"""The pure half of the ConfigDB client, shared by the sync and asyncio transports.

* Request building: `build_*` return a `RequestSpec` (method, path, query, body and how
  to parse the answer); local validation of keys and values happens here.
* Response interpretation: `interpret_response` turns (status, headers, body) into the
  parsed result, a `Retry` marker, or raises the mapped `ConfigDBError`.
* Failover: `EndpointRotation` (sticky current endpoint) and `Attempts`, which counts
  failures, picks the next endpoint and the backoff delay, and raises
  `ConfigDBUnavailable` when the bounded budget is spent.
* Stream addresses and TLS settings.

No I/O and no clock: the transports sleep for the delays this module computes.
"""

from __future__ import annotations

import random
import ssl
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlsplit

import orjson
from pydantic import BaseModel, ValidationError

from .errors import (
    CompareFailed,
    ConfigDBError,
    ConfigDBUnavailable,
    InvalidRequest,
    KeyNotFound,
    NotFound,
    ProtocolError,
    Unauthorized,
)
from .models import (
    KV,
    Compare,
    Discovery,
    NodeStatus,
    Op,
    Page,
    RevisionResult,
    TxnResult,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

MAX_KEY_BYTES = 1024
MAX_VALUE_BYTES = 1024 * 1024
MAX_LIST_LIMIT = 10_000
DEFAULT_LIST_LIMIT = 1000

VerifyTypes = bool | str | ssl.SSLContext

# ----------------------------------------------------------------------------- validation


def validate_key(key: str) -> str:
    """Raise `InvalidRequest` unless `key` is 1..1024 UTF-8 bytes without control characters."""
    if not isinstance(key, str):
        raise InvalidRequest(f"key must be a str, not {type(key).__name__}")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as exc:  # lone surrogates
        raise InvalidRequest(f"key is not valid UTF-8: {key!r}") from exc
    if not 1 <= size <= MAX_KEY_BYTES:
        raise InvalidRequest(f"key must be 1 to {MAX_KEY_BYTES} bytes, got {size}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        raise InvalidRequest(f"key contains a control character: {key!r}")
    return key


def validate_prefix(prefix: str) -> str:
    """A prefix follows the key rules except that it may be empty (every key)."""
    if prefix == "":
        return prefix
    return validate_key(prefix)


def encode_value(value: Any) -> bytes:
    """JSON-encode a value; raise `InvalidRequest` if it is not JSON or exceeds 1 MiB."""
    try:
        body = orjson.dumps(value)
    except TypeError as exc:
        raise InvalidRequest(f"value is not JSON-encodable: {exc}") from exc
    if len(body) > MAX_VALUE_BYTES:
        raise InvalidRequest(f"value of {len(body)} bytes exceeds the {MAX_VALUE_BYTES}-byte limit")
    return body


def _revision_arg(name: str, revision: int | None) -> int | None:
    if revision is None:
        return None
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise InvalidRequest(f"{name} must be an int >= 0, got {revision!r}")
    return revision


def new_request_id() -> str:
    """A fresh idempotency key (uuid4 hex)."""
    return uuid.uuid4().hex


def key_path(key: str) -> str:
    """`/v1/kv/{key}` with the key percent-encoded as one path segment ('/' included)."""
    quoted = quote(key, safe="")
    if quoted in (".", ".."):  # would be removed as a dot segment by URL normalisation
        quoted = quoted.replace(".", "%2E")
    return "/v1/kv/" + quoted


# ----------------------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class RequestSpec(Generic[T]):
    """One logical HTTP call: what to send and how to read a 200 answer.

    `write` marks calls that change state (they carry a request id and their failures
    after sending make the outcome unknown). `key` names the key for 404/409 errors;
    `not_found` builds the error for a 404 (None: `NotFound`).
    """

    method: str
    path: str
    parse: Callable[[bytes], T]
    params: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    write: bool = False
    key: str | None = None
    not_found: Callable[[dict[str, Any] | None], ConfigDBError] | None = None

    @property
    def headers(self) -> dict[str, str]:
        return {"content-type": "application/json"} if self.body is not None else {}


def _model_parser(model: type[M]) -> Callable[[bytes], M]:
    def parse(body: bytes) -> M:
        try:
            return model.model_validate_json(body)
        except ValidationError as exc:
            raise ProtocolError(f"malformed {model.__name__} response: {_first_error(exc)}") from exc

    return parse


def _revision_parser(body: bytes) -> int:
    return _model_parser(RevisionResult)(body).revision


def _first_error(exc: ValidationError) -> str:
    errs = exc.errors()
    if not errs:
        return str(exc)
    first = errs[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "invalid"))


def _bool(flag: bool) -> str:
    return "true" if flag else "false"


def build_get(key: str, *, consistent: bool = False) -> RequestSpec[KV]:
    validate_key(key)
    params = {"consistent": "true"} if consistent else {}
    return RequestSpec(
        "GET",
        key_path(key),
        _model_parser(KV),
        params=params,
        key=key,
        not_found=lambda problem: KeyNotFound(key, problem=problem),
    )


def build_put(
    key: str, value: Any, *, prev_revision: int | None = None, request_id: str | None = None
) -> RequestSpec[int]:
    validate_key(key)
    body = encode_value(value)
    params = {"request_id": request_id or new_request_id()}
    if _revision_arg("prev_revision", prev_revision) is not None:
        params["prev_revision"] = str(prev_revision)
    return RequestSpec(
        "PUT",
        key_path(key),
        _revision_parser,
        params=params,
        body=body,
        write=True,
        key=key,
        not_found=lambda problem: KeyNotFound(key, problem=problem),
    )


def build_delete(
    key: str, *, prev_revision: int | None = None, request_id: str | None = None
) -> RequestSpec[int]:
    validate_key(key)
    params = {"request_id": request_id or new_request_id()}
    if _revision_arg("prev_revision", prev_revision) is not None:
        params["prev_revision"] = str(prev_revision)
    return RequestSpec(
        "DELETE",
        key_path(key),
        _revision_parser,
        params=params,
        write=True,
        key=key,
        not_found=lambda problem: KeyNotFound(key, problem=problem),
    )


def build_list(
    prefix: str,
    *,
    limit: int = DEFAULT_LIST_LIMIT,
    after: str | None = None,
    consistent: bool = False,
) -> RequestSpec[Page]:
    validate_prefix(prefix)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise InvalidRequest(f"limit must be an int in 1..{MAX_LIST_LIMIT}, got {limit!r}")
    params = {"prefix": prefix, "limit": str(limit)}
    if after is not None:
        params["after"] = after
    if consistent:
        params["consistent"] = "true"
    return RequestSpec("GET", "/v1/kv", _model_parser(Page), params=params)


def build_txn(
    compare: Sequence[Compare | tuple[str, int]],
    success: Sequence[Op],
    failure: Sequence[Op],
    *,
    request_id: str | None = None,
) -> RequestSpec[TxnResult]:
    compares = [c if isinstance(c, Compare) else Compare(*c) for c in compare]
    for c in compares:
        validate_key(c.key)
    wire_ops: dict[str, list[dict[str, Any]]] = {}
    for name, ops in (("success", success), ("failure", failure)):
        out = []
        for op in ops:
            if not isinstance(op, Op):
                raise InvalidRequest(f"{name} ops must be Op instances (Op.put / Op.delete), got {op!r}")
            validate_key(op.key)
            out.append(op.to_wire())
        wire_ops[name] = out
    body = {
        "compare": [c.to_wire() for c in compares],
        "success": wire_ops["success"],
        "failure": wire_ops["failure"],
        "request_id": request_id or new_request_id(),
    }
    try:
        encoded = orjson.dumps(body)
    except TypeError as exc:
        raise InvalidRequest(f"transaction value is not JSON-encodable: {exc}") from exc
    return RequestSpec("POST", "/v1/txn", _model_parser(TxnResult), body=encoded, write=True)


def build_status() -> RequestSpec[NodeStatus]:
    return RequestSpec("GET", "/v1/status", _model_parser(NodeStatus))


def build_discovery(*, tenant: str | None = None, number: str | None = None) -> RequestSpec[Discovery]:
    if (tenant is None) == (number is None):
        raise InvalidRequest("discovery needs exactly one of tenant= or number=")
    params = {"tenant": tenant} if tenant is not None else {"number": str(number)}
    what = f"tenant {tenant}" if tenant is not None else f"number {number}"
    return RequestSpec(
        "GET",
        "/v1/discovery",
        _model_parser(Discovery),
        params=params,
        not_found=lambda problem: NotFound(f"not found: {what}", status=404, problem=problem),
    )


# ----------------------------------------------------------------------------- responses


@dataclass(frozen=True, slots=True)
class Retry:
    """`interpret_response`'s answer for a failure another attempt may heal."""

    reason: str
    status: int | None = None
    retry_after: float | None = None


RETRYABLE_4XX = frozenset({408, 429})


def parse_problem(body: bytes) -> dict[str, Any] | None:
    """The problem+json body as a dict, or None if the body is not a JSON object."""
    try:
        obj = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def _problem_text(status: int, problem: dict[str, Any] | None, body: bytes) -> str:
    if problem is None:
        text = body[:200].decode("utf-8", "replace").strip()
        return f"HTTP {status}" + (f": {text}" if text else "")
    title = str(problem.get("title") or f"HTTP {status}")
    detail = problem.get("detail")
    return f"{title}: {detail}" if detail else title


def _problem_id(problem: dict[str, Any] | None) -> str | None:
    kind = (problem or {}).get("type")
    if isinstance(kind, str) and kind.startswith("https://configdb/errors/"):
        return kind.rsplit("/", 1)[-1] or None
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds only), or None."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_for_status(spec: RequestSpec[Any], status: int, body: bytes) -> ConfigDBError:
    """The error a non-retryable, non-2xx answer maps to."""
    problem = parse_problem(body)
    text = _problem_text(status, problem, body)
    err: ConfigDBError
    if status == 404:
        err = spec.not_found(problem) if spec.not_found else NotFound(text, status=404, problem=problem)
    elif status == 409:
        raw = (problem or {}).get("revision")
        current = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        err = CompareFailed(spec.key, current, problem=problem)
    elif status in (401, 403):
        err = Unauthorized(f"unauthorized: {text}", status=status, problem=problem)
    elif 400 <= status < 500:  # 400, 413, 422 and any other client error
        err = InvalidRequest(f"invalid request: {text}", status=status, problem=problem)
    else:
        err = ConfigDBError(f"unexpected answer: {text}", status=status, problem=problem)
    problem_id = _problem_id(problem)
    if problem_id:
        err.error_id = problem_id
    return err


def interpret_response(
    spec: RequestSpec[T], status: int, headers: Mapping[str, str], body: bytes
) -> T | Retry:
    """Map one HTTP answer: 2xx → the parsed result; 5xx, 408 and 429 → `Retry`;
    any other status → raises the mapped `ConfigDBError` (see `error_for_status`).
    A 2xx whose body does not match the protocol raises `ProtocolError`."""
    if 200 <= status < 300:
        return spec.parse(body)
    if status >= 500 or status in RETRYABLE_4XX:
        problem = parse_problem(body)
        return Retry(
            _problem_text(status, problem, body),
            status=status,
            retry_after=parse_retry_after(headers.get("retry-after")),
        )
    raise error_for_status(spec, status, body)


# ----------------------------------------------------------------------------- failover


def normalize_endpoint(url: str) -> str:
    """Validate an HTTP base URL (`http(s)://host:port`) and strip a trailing slash."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"endpoint must be an http:// or https:// base URL, got {url!r}")
    return url.strip().rstrip("/")


class EndpointRotation:
    """A sticky choice among endpoints: requests go to `current` until it fails, then to
    the next one in order. Shared by every call of one client (and safe to share across
    threads: a failure only moves on if nobody moved on already)."""

    def __init__(self, endpoints: Sequence[str]) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is required")
        self.endpoints: tuple[str, ...] = tuple(endpoints)
        self._index = 0

    def __len__(self) -> int:
        return len(self.endpoints)

    @property
    def index(self) -> int:
        return self._index

    @property
    def current(self) -> str:
        return self.endpoints[self._index]

    def advance(self, failed_index: int) -> int:
        """Record that `failed_index` failed; return the index to try next."""
        if self._index == failed_index:
            self._index = (failed_index + 1) % len(self.endpoints)
        return self._index


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How many times to retry and how long to wait.

    A call makes at most `retries + 1` attempts. The first failure on each endpoint of a
    round moves on to the next endpoint at once; once every endpoint has failed,
    attempts back off exponentially from `backoff_base` up to `backoff_max` seconds,
    with jitter (a delay is scaled by a random factor in [0.5, 1]). A `Retry-After`
    from the node raises such a delay to that value, capped at `backoff_max`.
    """

    retries: int = 8
    backoff_base: float = 0.05
    backoff_max: float = 1.0
    jitter: bool = True

    def delay(
        self,
        failures: int,
        n_endpoints: int,
        *,
        switched: bool,
        retry_after: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """Seconds to wait before the next attempt after `failures` consecutive failures."""
        if switched and failures < n_endpoints:
            return 0.0  # another endpoint not tried yet in this round: go at once
        exp = max(0, failures - n_endpoints) if switched else failures - 1
        delay = min(self.backoff_max, self.backoff_base * (2 ** min(exp, 30)))
        if self.jitter:
            delay *= 0.5 + rand() / 2
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay


class Attempts:
    """The attempt budget of one logical call (or of one watch's reconnects).

    Use: send to `endpoint`; on success call `succeeded()`; on a retryable failure call
    `failed(...)`, sleep for the returned delay and send to `endpoint` again.
    `failed` raises `ConfigDBUnavailable` once `policy.retries + 1` attempts failed in a
    row. For writes, a failure after the request may have been sent marks the outcome
    unknown, which the final error reports.
    """

    def __init__(
        self,
        rotation: EndpointRotation,
        policy: RetryPolicy,
        *,
        what: str = "request",
        write: bool = False,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._rotation = rotation
        self._policy = policy
        self._what = what
        self._write = write
        self._rand = rand
        self.index = rotation.index
        self.failures = 0
        self.total = 0
        self.outcome_unknown = False
        self.errors: list[str] = []

    @property
    def endpoint(self) -> str:
        return self._rotation.endpoints[self.index]

    def succeeded(self) -> None:
        self.failures = 0

    def failed(
        self,
        reason: str,
        *,
        rotate: bool = True,
        maybe_applied: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> float:
        """Record a failure of the attempt on `endpoint`; return the delay before the next
        attempt, or raise `ConfigDBUnavailable` when the budget is spent."""
        self.failures += 1
        self.total += 1
        if self._write and maybe_applied:
            self.outcome_unknown = True
        failed_endpoint = self.endpoint
        self.errors.append(f"{failed_endpoint}: {reason}")
        if self.failures > self._policy.retries:
            unknown = " (the write may have been applied; retry with the same request_id)"
            raise ConfigDBUnavailable(
                f"ConfigDB unavailable: {self._what} failed after {self.failures} attempts; "
                f"last error: {failed_endpoint}: {reason}" + (unknown if self.outcome_unknown else ""),
                attempts=self.failures,
                last_error=f"{failed_endpoint}: {reason}",
                outcome_unknown=self.outcome_unknown,
                status=status,
            )
        if rotate:
            self.index = self._rotation.advance(self.index)
        return self._policy.delay(
            self.failures,
            len(self._rotation),
            switched=rotate and len(self._rotation) > 1,
            retry_after=retry_after,
            rand=self._rand,
        )


# ----------------------------------------------------------------------------- streams


@dataclass(frozen=True, slots=True)
class StreamAddress:
    host: str
    port: int
    tls: bool = False

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'tls' if self.tls else 'tcp'}://{host}:{self.port}"


_UNSPECIFIED_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})


def parse_stream_address(addr: str, *, http_endpoint: str | None = None) -> StreamAddress:
    """Parse `host:port`, `tcp://host:port` or `tls://host:port` (IPv6 in brackets).

    When the host is unspecified (`0.0.0.0`, `::`) and `http_endpoint` is given, its
    host is used instead (a node listening on every interface advertises that)."""
    text = addr.strip()
    tls = False
    if "://" in text:
        scheme, _, rest = text.partition("://")
        if scheme not in ("tcp", "tls"):
            raise ValueError(f"stream address scheme must be tcp:// or tls://, got {addr!r}")
        tls = scheme == "tls"
        text = rest.rstrip("/")
    host, sep, port_text = text.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ValueError(f"stream address must be host:port, got {addr!r}")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"stream address port out of range: {addr!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host in _UNSPECIFIED_HOSTS and http_endpoint is not None:
        host = urlsplit(http_endpoint).hostname or host
    if not host:
        raise ValueError(f"stream address has no host: {addr!r}")
    return StreamAddress(host, port, tls)


def make_ssl_context(verify: VerifyTypes) -> ssl.SSLContext:
    """The TLS context for `tls://` stream connections, following httpx's `verify`."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def watch_request(token: str, prefix: str, from_revision: int) -> dict[str, Any]:
    return {"token": token, "op": "watch", "prefix": prefix, "from_revision": from_revision}


def snapshot_request(token: str, prefix: str, *, watch: bool) -> dict[str, Any]:
    req: dict[str, Any] = {"token": token, "op": "snapshot", "prefix": prefix}
    if watch:
        req["watch"] = True
    return req


# ----------------------------------------------------------------------------- shared client settings


def describe(exc: BaseException) -> str:
    """A one-line description of a transport exception for error messages."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ClientCore:
    """Configuration and failover state shared by `ConfigDBClient` and
    `AsyncConfigDBClient`: endpoints, the sticky rotations (HTTP and stream), the retry
    policy and the map from HTTP endpoints to their stream addresses."""

    def __init__(
        self,
        endpoints: Sequence[str],
        token: str,
        *,
        timeout: float,
        retries: int,
        stream_endpoints: Sequence[str] | None,
        backoff_base: float,
        backoff_max: float,
    ) -> None:
        if isinstance(endpoints, str):
            endpoints = [e for e in endpoints.split(",") if e.strip()]
        if not isinstance(token, str) or not token:
            raise ValueError("a non-empty bearer token is required")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout!r}")
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries!r}")
        self.endpoints = [normalize_endpoint(e) for e in endpoints]
        self.token = token
        self.timeout = timeout
        self.policy = RetryPolicy(retries=retries, backoff_base=backoff_base, backoff_max=backoff_max)
        self.rotation = EndpointRotation(self.endpoints)
        self.explicit_streams: dict[str, StreamAddress] | None = None
        if stream_endpoints:
            if isinstance(stream_endpoints, str):
                stream_endpoints = [e for e in stream_endpoints.split(",") if e.strip()]
            parsed = [parse_stream_address(s) for s in stream_endpoints]
            self.explicit_streams = {str(a): a for a in parsed}
            self.stream_rotation = EndpointRotation(list(self.explicit_streams))
        else:
            self.stream_rotation = EndpointRotation(self.endpoints)
        self._stream_cache: dict[str, StreamAddress] = {}

    def attempts(self, spec: RequestSpec[Any], endpoint: str | None = None) -> Attempts:
        """The attempt budget for one HTTP call (a single attempt when pinned to `endpoint`)."""
        what = f"{spec.method} {spec.path}"
        if endpoint is not None:
            pinned = EndpointRotation([normalize_endpoint(endpoint)])
            return Attempts(pinned, RetryPolicy(retries=0), what=what)
        return Attempts(self.rotation, self.policy, what=what, write=spec.write)

    def stream_attempts(self, what: str) -> Attempts:
        return Attempts(self.stream_rotation, self.policy, what=what)

    def cached_stream_address(self, endpoint: str) -> StreamAddress | None:
        """The stream address for a stream-rotation entry, if known without asking the node."""
        if self.explicit_streams is not None:
            return self.explicit_streams[endpoint]
        return self._stream_cache.get(endpoint)

    def learn_stream_address(self, endpoint: str, status: NodeStatus) -> StreamAddress:
        """Record the stream address a node's `/v1/status` advertises."""
        if not status.stream:
            raise ProtocolError(
                f"node at {endpoint} does not advertise 'stream' in /v1/status; pass stream_endpoints"
            )
        try:
            addr = parse_stream_address(status.stream, http_endpoint=endpoint)
        except ValueError as exc:
            raise ProtocolError(f"node at {endpoint} advertises a bad stream address: {exc}") from exc
        self._stream_cache[endpoint] = addr
        return addr

    def forget_stream_address(self, endpoint: str) -> None:
        self._stream_cache.pop(endpoint, None)
