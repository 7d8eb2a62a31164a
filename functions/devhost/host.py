"""Wire discovered functions to runners, the admin API and uvicorn; run until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from functions.devhost.admin import build_admin_app
from functions.devhost.asgi import build_root_app
from functions.devhost.bindings import BLOB, QUEUE, SERVICE_BUS, TIMER, Discovered, FunctionSpec, route_prefix
from functions.devhost.blobs import BlobOptions, BlobRunner, invoke_for_blob
from functions.devhost.invoker import EventLog, Invoker
from functions.devhost.queues import QueueOptions, QueueRunner, admin_body, queue_metadata, trigger_value
from functions.devhost.receipts import ReceiptStore
from functions.devhost.storage import StorageIO
from functions.devhost.timers import (
    DEFAULT_HOST_ID,
    HOST_ID_SETTING,
    BlobScheduleMonitor,
    TimerRunner,
    timer_request,
)
from functions.wiring import blob_client_options, queue_client_options


@dataclass(frozen=True)
class HostConfig:
    host: str = "127.0.0.1"
    port: int = 7071
    storage: str | None = None
    data_dir: Path = Path(".data/devhost")
    host_json: dict[str, Any] = field(default_factory=dict)
    queue: QueueOptions = field(default_factory=QueueOptions)
    blob: BlobOptions = field(default_factory=BlobOptions)


class _Server(uvicorn.Server):
    """uvicorn re-raises captured signals after serving; the host handles them itself instead."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Host:
    def __init__(self, discovered: Discovered, config: HostConfig, events: EventLog) -> None:
        self.discovered = discovered
        self.config = config
        self.events = events
        needs_storage = any(
            f.trigger in (BLOB, QUEUE, SERVICE_BUS) or f.io for f in discovered.functions.values()
        )
        if needs_storage and not config.storage:
            raise SystemExit("queue/blob triggered functions need --storage (or AzureWebJobsStorage)")
        # Bounded like the app's own clients: a poller that waited out the SDK's default retries
        # during a storage outage would hold a worker thread for over a minute, and the pollers
        # together would starve the API's requests of threads.
        self.queues = (
            QueueServiceClient.from_connection_string(config.storage, **queue_client_options())
            if config.storage
            else None
        )
        self.blobs = (
            BlobServiceClient.from_connection_string(config.storage, **blob_client_options())
            if config.storage
            else None
        )
        storage_io = None
        if self.queues is not None and self.blobs is not None:
            storage_io = StorageIO(self.blobs, self.queues, config.queue.encoding)
        self.invoker = Invoker(events, storage_io)
        self.receipts: ReceiptStore | None = None
        if discovered.of(BLOB):
            self.receipts = ReceiptStore(config.data_dir / "blob-receipts.sqlite3")

    def runners(self) -> list[Any]:
        monitor = None
        if self.blobs is not None:  # timers' schedule statuses, where the Functions host keeps them
            monitor = BlobScheduleMonitor(self.blobs, os.environ.get(HOST_ID_SETTING, DEFAULT_HOST_ID))
        out: list[Any] = [TimerRunner(f, self.invoker, monitor) for f in self.discovered.of(TIMER)]
        for f in self.discovered.of(SERVICE_BUS) + self.discovered.of(QUEUE):
            assert self.queues is not None
            out.append(QueueRunner(f, self.invoker, self.events, self.queues, self.config.queue))
        for f in self.discovered.of(BLOB):
            assert self.blobs is not None and self.receipts is not None
            out.append(BlobRunner(f, self.invoker, self.events, self.blobs, self.receipts, self.config.blob))
        return out

    async def dispatch(self, spec: FunctionSpec, value: str) -> None:
        """Admin API: run ``spec`` directly with ``value`` (queue: message body; blob: path; timer: none)."""
        if spec.trigger == TIMER:
            await self.invoker.invoke(spec, timer_request(False, None, None), source="admin")
        elif spec.trigger in (SERVICE_BUS, QUEUE):
            body = admin_body(value)
            await self.invoker.invoke(
                spec, trigger_value(spec, body), queue_metadata(body, None), source="admin"
            )
        elif spec.trigger == BLOB:
            assert self.blobs is not None
            container, _, name = value.strip("/").partition("/")
            await invoke_for_blob(spec, self.invoker, self.blobs, container, name)

    async def _admin_dispatch(self, spec: FunctionSpec, value: str) -> None:
        try:
            await self.dispatch(spec, value)
        except Exception as exc:
            self.events.emit("admin_error", function=spec.name, error=f"{type(exc).__name__}: {exc}")

    async def serve(self) -> None:
        admin = build_admin_app(self.discovered, self._admin_dispatch)
        prefix = route_prefix(self.config.host_json)
        root = build_root_app(self.discovered.asgi_app, admin, prefix)
        server = _Server(
            uvicorn.Config(root, host=self.config.host, port=self.config.port, log_level="warning")
        )
        loop = asyncio.get_running_loop()

        def stop(signame: str) -> None:
            if server.should_exit:
                server.force_exit = True
            server.should_exit = True
            self.events.emit("host_stopping", signal=signame)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop, sig.name)
        tasks = [asyncio.create_task(r.run(), name=r.spec.name) for r in self.runners()]
        self.events.emit(
            "host_started",
            url=f"http://{self.config.host}:{self.config.port}",
            route_prefix=prefix,
            pid=os.getpid(),
            functions={f.name: f.trigger for f in self.discovered.functions.values()},
            unsupported=list(self.discovered.unsupported),
        )
        try:
            await server.serve()
        finally:
            pending = tasks + list(getattr(admin.state, "background", ()))
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if self.receipts is not None:
                self.receipts.close()
            self.events.emit("host_stopped")


def read_host_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return data if isinstance(data, dict) else {}


def load_settings(path: Path) -> None:
    """Put local.settings.json ``Values`` into the environment (existing variables win)."""
    values = json.loads(path.read_text()).get("Values", {})
    for k, v in values.items():
        os.environ.setdefault(k, str(v))
