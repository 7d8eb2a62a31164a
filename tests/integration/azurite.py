"""Reusable pytest fixture: a real Azurite (blob + queue + table) on free ports in a temp dir.

Use it with ``from tests.integration.azurite import azurite  # noqa: F401`` in a test module.
Needs ``node_modules/.bin/azurite`` (``npm install`` from package.json, or
``npm install --no-save azurite@3.37.0``); the tests are skipped when it is missing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.local.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
AZURITE_BIN = ROOT / "node_modules" / ".bin" / "azurite"
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Azurite:
    blob_port: int
    queue_port: int
    table_port: int
    location: Path

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"port {port} did not open within {timeout}s")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    if not AZURITE_BIN.exists():
        pytest.skip("azurite not installed (npm install --no-save azurite@3.37.0)")
    location = tmp_path_factory.mktemp("azurite")
    ports = [free_port(), free_port(), free_port()]
    cmd = [str(AZURITE_BIN), "--silent", "--disableTelemetry", "--skipApiVersionCheck", "--location"]
    cmd += [str(location), "--blobPort", str(ports[0]), "--queuePort", str(ports[1])]
    cmd += ["--tablePort", str(ports[2]), "--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1"]
    cmd += ["--tableHost", "127.0.0.1"]
    log = (location / "azurite.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for port in ports:
            wait_for_port(port, proc=proc)
        yield Azurite(ports[0], ports[1], ports[2], location)
    finally:
        stop_process(proc)
        log.close()
