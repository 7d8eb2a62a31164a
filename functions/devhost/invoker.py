"""Call a user function (sync or async) and log one JSON line per invocation."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from functions.devhost.bindings import FunctionSpec
from functions.devhost.io_bindings import BLOB, OutValue, expand, to_bytes, wants
from functions.devhost.messages import input_stream
from functions.devhost.storage import StorageIO, split_blob_path

log = logging.getLogger("devhost")


@dataclass(frozen=True)
class InvocationContext:
    """The subset of ``func.Context`` a handler usually reads."""

    invocation_id: str
    function_name: str
    function_directory: str = ""
    trace_context: Any = None
    retry_context: Any = None
    thread_local_storage: Any = None


class EventLog:
    """Writes one JSON object per line (invocations, poison moves, host lifecycle)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout

    def emit(self, event: str, **fields: Any) -> None:
        record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "event": event, **fields}
        self._stream.write(json.dumps(record, default=str) + "\n")
        self._stream.flush()


class Invoker:
    def __init__(self, events: EventLog, storage: StorageIO | None = None) -> None:
        self.events = events
        self.storage = storage

    async def invoke(
        self, spec: FunctionSpec, value: Any, metadata: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        """Run ``spec`` with ``value`` as its trigger argument and its other bindings; log one line;
        re-raise the handler's (or an output binding's) error.

        ``metadata`` fills binding expressions such as ``{name}`` in blob paths.
        """
        invocation_id = str(uuid.uuid4())
        kwargs: dict[str, Any] = {spec.arg_name: value}
        if "context" in spec.param_names and spec.arg_name != "context":
            kwargs["context"] = InvocationContext(invocation_id, spec.name)
        start = time.perf_counter()
        error: BaseException | None = None
        try:
            outs = await self._bind(spec, kwargs, metadata or {})
            result = await _call(spec.user_function, kwargs, spec.is_async)
            await self._write_outputs(spec, outs, result, metadata or {})
        except Exception as exc:
            error = exc
        duration_ms = round((time.perf_counter() - start) * 1000, 3)
        self.events.emit(
            "invocation",
            function=spec.name,
            invocation_id=invocation_id,
            trigger=spec.trigger,
            duration_ms=duration_ms,
            outcome="error" if error else "ok",
            error=None if error is None else f"{type(error).__name__}: {error}",
            **extra,
        )
        if error is not None:
            raise error

    def _need_storage(self, spec: FunctionSpec) -> StorageIO:
        if self.storage is None:
            raise RuntimeError(f"{spec.name} has blob/queue bindings but the host has no --storage")
        return self.storage

    async def _bind(
        self, spec: FunctionSpec, kwargs: dict[str, Any], metadata: Mapping[str, str]
    ) -> dict[str, OutValue]:
        outs: dict[str, OutValue] = {}
        for b in spec.io:
            if b.name == "$return":
                continue
            if b.direction == "out":
                outs[b.name] = kwargs[b.name] = OutValue()
            elif b.type == BLOB:
                storage = self._need_storage(spec)
                path = expand(b.target, metadata)
                found = await asyncio.to_thread(storage.read_blob, path)
                kwargs[b.name] = None if found is None else _blob_arg(spec, b.name, path, *found)
        return outs

    async def _write_outputs(
        self, spec: FunctionSpec, outs: dict[str, OutValue], result: Any, metadata: Mapping[str, str]
    ) -> None:
        for b in spec.io:
            if b.direction != "out":
                continue
            if b.name == "$return":
                value, is_set = result, result is not None
            else:
                value, is_set = outs[b.name].get(), outs[b.name].is_set
            if not is_set or value is None:
                continue
            storage = self._need_storage(spec)
            if b.type == BLOB:
                await asyncio.to_thread(storage.write_blob, expand(b.target, metadata), to_bytes(value))
            else:
                items = value if isinstance(value, list) else [value]
                for item in items:
                    await asyncio.to_thread(storage.enqueue, expand(b.target, metadata), to_bytes(item))


def _blob_arg(spec: FunctionSpec, param: str, path: str, data: bytes, uri: str) -> Any:
    kind = wants(spec.user_function, param)
    if kind == "str":
        return data.decode()
    if kind == "bytes":
        return data
    container, name = split_blob_path(path)
    return input_stream(container, name, data, uri)


async def _call(fn: Callable[..., Any], kwargs: dict[str, Any], is_async: bool) -> Any:
    if is_async:
        return await fn(**kwargs)
    return await asyncio.to_thread(fn, **kwargs)
