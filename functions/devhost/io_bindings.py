"""Non-trigger bindings: blob input, blob/queue/serviceBus output (incl. ``$return``), binding expressions.

Expressions in paths (``processed/{name}``, ``orders/{orderId}.json``) are filled from trigger metadata:
blob-trigger path groups, top-level fields of a JSON message body, ``{rand-guid}`` and ``{DateTime}``.
"""

from __future__ import annotations

import json
import re
import typing
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

BLOB = "blob"
QUEUE = "queue"
SERVICE_BUS = "serviceBus"
SUPPORTED = frozenset({BLOB, QUEUE, SERVICE_BUS})
_EXPR = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class IoBinding:
    name: str  # the parameter name, or "$return"
    type: str
    direction: str  # "in" | "out"
    settings: dict[str, Any]

    @property
    def target(self) -> str:
        """Blob path template or queue name."""
        return str(self.settings.get("path") or self.settings.get("queueName") or "")


class OutValue(func.Out[Any]):
    """What a handler gets for a ``func.Out[T]`` parameter."""

    def __init__(self) -> None:
        self._value: Any = None
        self.is_set = False

    def set(self, val: Any) -> None:
        self._value = val
        self.is_set = True

    def get(self) -> Any:
        return self._value


def io_bindings(bindings: list[Any]) -> tuple[IoBinding, ...]:
    out: list[IoBinding] = []
    for b in bindings:
        d = b.get_dict_repr()
        if d.get("type") not in SUPPORTED:
            continue
        direction = "out" if getattr(d.get("direction"), "name", "") == "OUT" else "in"
        settings = {k: v for k, v in d.items() if k not in ("direction", "dataType")}
        out.append(IoBinding(str(d["name"]), str(d["type"]), direction, settings))
    return tuple(out)


def unsupported_bindings(bindings: list[Any], trigger_name: str) -> list[str]:
    names = []
    for b in bindings:
        d = b.get_dict_repr()
        if d["name"] != trigger_name and d.get("type") not in SUPPORTED and d.get("type") != "http":
            names.append(f"{d['name']}:{d.get('type')}")
    return names


def metadata_from_body(body: bytes) -> dict[str, str]:
    """Top-level scalar fields of a JSON object body, for ``{field}`` binding expressions."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int | float | bool)}


def expand(template: str, metadata: Mapping[str, str], now: Callable[[], datetime] | None = None) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key.lower() == "rand-guid":
            return str(uuid.uuid4())
        if key.lower() == "datetime":
            return (now or (lambda: datetime.now(UTC)))().strftime("%Y-%m-%dT%H-%M-%SZ")
        if key in metadata:
            return metadata[key]
        lowered = {k.lower(): v for k, v in metadata.items()}
        if key.lower() in lowered:
            return lowered[key.lower()]
        raise KeyError(f"no value for binding expression {{{key}}}")

    return _EXPR.sub(sub, template)


def to_bytes(value: Any) -> bytes:
    """Output value → bytes, as the Functions host serializes it."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    if hasattr(value, "read"):
        data = value.read()
        return data if isinstance(data, bytes) else str(data).encode()
    return json.dumps(value).encode()


def wants(fn: Callable[..., Any], param: str) -> str:
    """``"str"``, ``"bytes"`` or ``"stream"``: how a blob input parameter is annotated."""
    try:
        hint = typing.get_type_hints(fn).get(param)
    except Exception:
        hint = None
    options = set(typing.get_args(hint)) | {hint}
    if str in options:
        return "str"
    if bytes in options:
        return "bytes"
    return "stream"
