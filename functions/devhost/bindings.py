"""Discover what a function app serves from its decorator-built function objects (pure logic)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func

from functions.devhost.io_bindings import IoBinding, io_bindings, unsupported_bindings

HTTP = "httpTrigger"
TIMER = "timerTrigger"
SERVICE_BUS = "serviceBusTrigger"
QUEUE = "queueTrigger"
BLOB = "blobTrigger"
NON_HTTP = frozenset({TIMER, SERVICE_BUS, QUEUE, BLOB})


@dataclass(frozen=True)
class FunctionSpec:
    """One function as the host runs it."""

    name: str
    trigger: str
    arg_name: str
    settings: dict[str, Any]
    user_function: Callable[..., Any]
    param_names: tuple[str, ...] = field(default=())
    io: tuple[IoBinding, ...] = field(default=())

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.user_function)

    def setting(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)


@dataclass(frozen=True)
class Discovered:
    functions: dict[str, FunctionSpec]
    asgi_app: Any | None
    http_functions: tuple[str, ...]
    unsupported: tuple[str, ...]

    def of(self, trigger: str) -> list[FunctionSpec]:
        return [f for f in self.functions.values() if f.trigger == trigger]


def discover(app: func.FunctionRegister) -> Discovered:
    """Read ``app.get_functions()`` once (it rebuilds and re-validates on each call)."""
    functions: dict[str, FunctionSpec] = {}
    http: list[str] = []
    unsupported: list[str] = []
    for f in app.get_functions():
        trigger = f.get_trigger()
        if trigger is None:
            unsupported.append(f.get_function_name())
            continue
        repr_ = {k: v for k, v in trigger.get_dict_repr().items() if k not in ("direction", "dataType")}
        user = f.get_user_function()
        spec = FunctionSpec(
            name=f.get_function_name(),
            trigger=trigger.get_binding_name(),
            arg_name=trigger.name,
            settings=repr_,
            user_function=user,
            param_names=tuple(inspect.signature(user).parameters),
            io=io_bindings(f.get_bindings()),
        )
        unsupported += [f"{spec.name}.{b}" for b in unsupported_bindings(f.get_bindings(), trigger.name)]
        functions[spec.name] = spec
        if spec.trigger == HTTP:
            http.append(spec.name)
            if "_add_http_app" not in getattr(user, "__qualname__", ""):
                unsupported.append(f"{spec.name} (plain HTTP function; only AsgiFunctionApp is served)")
        elif spec.trigger not in NON_HTTP:
            unsupported.append(spec.name)
    middleware = getattr(app, "middleware", None)
    asgi_app = getattr(middleware, "_app", None) if isinstance(middleware, func.AsgiMiddleware) else None
    return Discovered(functions, asgi_app, tuple(http), tuple(unsupported))


@dataclass(frozen=True)
class BlobPattern:
    """A blob trigger path such as ``uploads/{name}`` or ``in/{folder}/{name}.csv``."""

    container: str
    prefix: str
    regex: re.Pattern[str]

    def match(self, blob_name: str) -> dict[str, str] | None:
        m = self.regex.fullmatch(blob_name)
        return m.groupdict() if m else None


def parse_blob_path(path: str) -> BlobPattern:
    container, sep, rest = path.strip("/").partition("/")
    if not container or "{" in container:
        raise ValueError(f"blob trigger path {path!r} must start with a literal container name")
    if not sep:
        rest = "{name}"
    prefix = rest.split("{", 1)[0]
    parts: list[str] = []
    pos = 0
    for m in re.finditer(r"\{(\w+)\}", rest):
        parts.append(re.escape(rest[pos : m.start()]))
        parts.append(f"(?P<{m.group(1)}>.+?)" if m.end() < len(rest) else f"(?P<{m.group(1)}>.+)")
        pos = m.end()
    parts.append(re.escape(rest[pos:]))
    return BlobPattern(container, prefix, re.compile("".join(parts), re.DOTALL))


def route_prefix(host_json: dict[str, Any]) -> str:
    """``extensions.http.routePrefix`` from host.json (Azure's default is ``api``), as ``/x`` or ``""``."""
    prefix = host_json.get("extensions", {}).get("http", {}).get("routePrefix", "api")
    prefix = str(prefix).strip("/")
    return f"/{prefix}" if prefix else ""
