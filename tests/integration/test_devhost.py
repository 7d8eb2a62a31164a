"""The local Functions host (functions/devhost) against a real Azurite, as a real subprocess."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import io
import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from functions.devhost.bindings import FunctionSpec
from functions.devhost.invoker import EventLog, Invoker
from functions.devhost.timers import TimerRunner
from tests.integration.azurite import ROOT, Azurite, azurite, free_port, stop_process, wait_for_port
from tests.waiting import eventually

__all__ = ["azurite"]  # the fixture, re-exported for pytest

TEST_APP = "tests.integration.devhost_app.function_app:app"
INVOCATION_FIELDS = {"function", "invocation_id", "trigger", "duration_ms", "outcome", "error"}


class HostProcess:
    def __init__(self, storage: str, data_dir: Path, log_path: Path, app: str = TEST_APP) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "functions.devhost", "--app", app, "--host", "127.0.0.1"]
        cmd += ["--port", str(self.port), "--storage", storage, "--data-dir", str(data_dir)]
        cmd += ["--retry-delay", "0", "--poll-interval", "0.2"]
        self._log = log_path.open("ab")
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for_port(self.port, proc=self.proc)
        except Exception:
            self.stop()
            raise

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out

    def invocations(self, function: str) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["event"] == "invocation" and e["function"] == function]

    def stop(self) -> int | None:
        stop_process(self.proc)
        self._log.close()
        print(self.log_path.read_text())  # shown by pytest when the test fails
        return self.proc.returncode


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    return eventually(check, timeout=timeout, interval=0.1, message=what)


def blob_names(conn: str, container: str) -> list[str]:
    client = BlobServiceClient.from_connection_string(conn).get_container_client(container)
    if not client.exists():
        return []
    return [b.name for b in client.list_blobs()]


def read_blob(conn: str, container: str, name: str) -> bytes:
    client = BlobServiceClient.from_connection_string(conn).get_blob_client(container, name)
    return client.download_blob().readall()


def two_more_polls(conn: str) -> None:
    """Return once the host has scanned `uploads` twice more: each marker blob goes up after the
    previous one was processed, so a later scan picks it up (and would re-run anything due)."""
    for _ in range(2):
        marker = f"marker-{uuid.uuid4().hex}.txt"
        upload(conn, "uploads", marker, b"marker")
        wait_until(functools.partial(processed, conn, marker), what=f"processed/{marker}")


def processed(conn: str, name: str) -> bool:
    return name in blob_names(conn, "processed")


def upload(conn: str, container: str, name: str, data: bytes) -> None:
    client = BlobServiceClient.from_connection_string(conn).get_container_client(container)
    if not client.exists():
        client.create_container()
    client.upload_blob(name, data, overwrite=True)


def send(conn: str, queue: str, body: str) -> None:
    client = QueueClient.from_connection_string(conn, queue, message_encode_policy=TextBase64EncodePolicy())
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    client.send_message(body)


@pytest.fixture
def host(azurite: Azurite, tmp_path: Path) -> Iterator[HostProcess]:
    h = HostProcess(azurite.connection_string, tmp_path / "data", tmp_path / "host.log")
    yield h
    h.stop()


def test_http_route_served_under_api(host: HostProcess) -> None:
    r = httpx.get(f"{host.url}/api/ping")
    assert r.status_code == 200
    assert r.json() == {"pong": "yes"}
    started = next(e for e in host.events() if e["event"] == "host_started")
    assert started["functions"] == {
        "http_app_func": "httpTrigger",
        "yearly_marker": "timerTrigger",
        "work_item": "serviceBusTrigger",
        "process_upload": "blobTrigger",
        "order_placed": "serviceBusTrigger",
    }
    assert started["unsupported"] == []


def test_admin_runs_timer(host: HostProcess, azurite: Azurite) -> None:
    before = set(blob_names(azurite.connection_string, "markers"))
    r = httpx.post(f"{host.url}/admin/functions/yearly_marker", json={"input": ""})
    assert r.status_code == 202
    new = wait_until(
        lambda: set(blob_names(azurite.connection_string, "markers")) - before, what="timer marker blob"
    )
    assert len(new) == 1
    body = json.loads(read_blob(azurite.connection_string, "markers", new.pop()))
    assert body == {"past_due": False}
    inv = wait_until(lambda: host.invocations("yearly_marker"), what="timer invocation log")
    assert inv[0]["trigger"] == "timerTrigger" and inv[0]["outcome"] == "ok"


def test_admin_unknown_function_is_404(host: HostProcess) -> None:
    r = httpx.post(f"{host.url}/admin/functions/no_such_function", json={"input": "x"})
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == 404
    # HTTP functions are not run through the admin API either
    assert httpx.post(f"{host.url}/admin/functions/http_app_func", json={}).status_code == 404


def test_queue_message_processed(host: HostProcess, azurite: Azurite) -> None:
    body = f"ok-{uuid.uuid4().hex}"
    send(azurite.connection_string, "work", body)
    wait_until(lambda: body in blob_names(azurite.connection_string, "results"), what="queue result blob")
    assert json.loads(read_blob(azurite.connection_string, "results", body)) == {"delivery_count": 1}
    inv = wait_until(lambda: host.invocations("work_item"), what="queue invocation log")
    assert inv[0]["outcome"] == "ok" and inv[0]["trigger"] == "serviceBusTrigger"


def test_admin_runs_queue_function_with_input(host: HostProcess, azurite: Azurite) -> None:
    body = f"admin-{uuid.uuid4().hex}"
    assert httpx.post(f"{host.url}/admin/functions/work_item", json={"input": body}).status_code == 202
    wait_until(lambda: body in blob_names(azurite.connection_string, "results"), what="admin result blob")


def test_failing_message_retried_then_poisoned(host: HostProcess, azurite: Azurite) -> None:
    send(azurite.connection_string, "work", "fail")
    poison = QueueClient.from_connection_string(azurite.connection_string, "work-poison")

    def poisoned() -> list[Any]:
        try:
            return list(poison.peek_messages(max_messages=32))
        except Exception:
            return []

    msgs = wait_until(poisoned, timeout=30, what="message in work-poison")
    assert [m.content for m in msgs] == [TextBase64EncodePolicy().encode("fail")]
    failures = [e for e in host.invocations("work_item") if e["outcome"] == "error"]
    assert [e["delivery_count"] for e in failures] == [1, 2, 3, 4, 5]
    assert all("asked to fail" in e["error"] for e in failures)
    poison_events = [e for e in host.events() if e["event"] == "poison"]
    assert poison_events and poison_events[0]["poison_queue"] == "work-poison"
    work = QueueClient.from_connection_string(azurite.connection_string, "work")
    assert work.get_queue_properties().approximate_message_count == 0


def test_blob_trigger_fires_once_and_not_after_restart(azurite: Azurite, tmp_path: Path) -> None:
    conn = azurite.connection_string
    data_dir, log = tmp_path / "data", tmp_path / "host.log"
    name = f"file-{uuid.uuid4().hex}.txt"
    first = HostProcess(conn, data_dir, log)
    try:
        upload(conn, "uploads", name, b"hello")
        wait_until(lambda: name in blob_names(conn, "processed"), what="processed blob")
        assert read_blob(conn, "processed", name) == b"HELLO"
        two_more_polls(conn)
        fired = [e for e in first.invocations("process_upload") if e.get("blob") == f"uploads/{name}"]
        assert len(fired) == 1
    finally:
        assert first.stop() == 0
    second = HostProcess(conn, data_dir, log)
    try:
        other = f"other-{uuid.uuid4().hex}.txt"
        upload(conn, "uploads", other, b"again")
        wait_until(lambda: other in blob_names(conn, "processed"), what="second processed blob")
        two_more_polls(conn)
        by_blob = [e.get("blob") for e in second.invocations("process_upload")]
        assert by_blob.count(f"uploads/{name}") == 1  # only the first host's run
        assert by_blob.count(f"uploads/{other}") == 1
    finally:
        second.stop()


def test_invocation_log_lines_are_json_with_fields(host: HostProcess, azurite: Azurite) -> None:
    send(azurite.connection_string, "work", f"log-{uuid.uuid4().hex}")
    inv = wait_until(lambda: host.invocations("work_item"), what="an invocation")
    lines = [ln for ln in host.log_path.read_text().splitlines() if '"invocation"' in ln]
    assert lines and all(json.loads(ln)["event"] == "invocation" for ln in lines)
    assert set(inv[0]) >= INVOCATION_FIELDS
    assert isinstance(inv[0]["duration_ms"], float | int) and inv[0]["error"] is None


def test_clean_shutdown_on_sigterm(host: HostProcess) -> None:
    assert host.stop() == 0
    assert host.events()[-1]["event"] == "host_stopped"


def test_real_function_app_serves_health(azurite: Azurite, tmp_path: Path) -> None:
    h = HostProcess(
        azurite.connection_string, tmp_path / "data", tmp_path / "host.log", app="function_app:app"
    )
    try:
        r = httpx.get(f"{h.url}/api/v1/health")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
    finally:
        assert h.stop() == 0


def test_admin_runs_blob_function_with_path(host: HostProcess, azurite: Azurite) -> None:
    conn = azurite.connection_string
    name = f"admin-{uuid.uuid4().hex}.txt"
    upload(conn, "uploads", name, b"by admin")
    wait_until(lambda: name in blob_names(conn, "processed"), what="poller run")
    r = httpx.post(f"{host.url}/admin/functions/process_upload", json={"input": f"uploads/{name}"})
    assert r.status_code == 202

    def runs() -> list[dict[str, Any]]:
        return [e for e in host.invocations("process_upload") if e.get("blob") == f"uploads/{name}"]

    assert len(wait_until(lambda: len(runs()) == 2 and runs(), what="admin blob run")) == 2
    assert httpx.post(f"{host.url}/admin/functions/process_upload", json={"input": "x"}).status_code == 400


def test_timer_runner_fires_on_startup_and_on_schedule() -> None:
    calls: list[bool] = []

    def tick(timer: func.TimerRequest) -> None:
        calls.append(timer.past_due)

    spec = FunctionSpec(
        name="tick",
        trigger="timerTrigger",
        arg_name="timer",
        settings={"schedule": "* * * * * *", "runOnStartup": True},
        user_function=tick,
        param_names=("timer",),
    )
    out = io.StringIO()
    runner = TimerRunner(spec, Invoker(EventLog(out)))

    async def run_for(seconds: float) -> None:
        task = asyncio.create_task(runner.run())
        await asyncio.sleep(seconds)  # the time is what is tested: how often the timer fires in it
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run_for(2.5))
    assert 2 <= len(calls) <= 5  # one on startup, then once a second
    assert calls == [False] * len(calls)
    records = [json.loads(ln) for ln in out.getvalue().splitlines()]
    assert {r["outcome"] for r in records} == {"ok"} and len(records) == len(calls)


def test_input_and_output_bindings(host: HostProcess, azurite: Azurite) -> None:
    conn = azurite.connection_string
    upload(conn, "config", "greeting.txt", b"hello")
    order_id = uuid.uuid4().hex
    send(conn, "orders", json.dumps({"orderId": order_id}))
    name = f"{order_id}.txt"
    wait_until(lambda: name in blob_names(conn, "orders-out"), what="blob output")
    assert read_blob(conn, "orders-out", name) == f"hello:{order_id}".encode()
    nxt = QueueClient.from_connection_string(conn, "orders-next")
    msgs = wait_until(lambda: list(nxt.peek_messages(max_messages=32)), what="queue output")
    bodies = [json.loads(base64.b64decode(m.content)) for m in msgs]
    assert {"shipped": order_id} in bodies
