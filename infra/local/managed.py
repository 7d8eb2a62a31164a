"""One child process of the local platform: start it, wait until it is ready, stop it.

`make run` and the integration tests use the same class for every part (Azurite, the
SMTP catcher, the functions host), so they all start, log and stop the same way:

- the child runs in its own process group, so a Ctrl-C in the terminal reaches only the
  supervisor, which then stops the children in order;
- the child gets SIGTERM if the supervisor dies (Linux `PR_SET_PDEATHSIG`), so a killed
  supervisor leaves nothing behind;
- stop() sends SIGTERM to the group, then SIGKILL after a timeout;
- stdout and stderr go to a log file, whose tail is quoted when the child fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1


def _child_setup() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def ports_open(host: str, *ports: int) -> Callable[[], bool]:
    """A readiness check: every port accepts a TCP connection."""
    return lambda: all(port_open(host, p) for p in ports)


def http_ok(url: str) -> Callable[[], bool]:
    """A readiness check: GET url answers 2xx."""

    def check() -> bool:
        try:
            return httpx.get(url, timeout=1.0).is_success
        except httpx.HTTPError:
            return False

    return check


@dataclass
class ManagedProcess:
    name: str
    cmd: Sequence[str]
    log_path: Path
    ready: Callable[[], bool]
    env: Mapping[str, str] | None = None  # added to os.environ
    cwd: Path = REPO
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                list(self.cmd),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **(self.env or {})},
                process_group=0,
                preexec_fn=_child_setup,  # only prctl: async-signal-safe enough
            )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_code(self) -> int | None:
        """None while running (or never started), else the exit code (negative: signal)."""
        return None if self.proc is None else self.proc.poll()

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once `ready()` holds. RuntimeError if the child exits, TimeoutError if too slow."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                raise RuntimeError(
                    f"{self.name} exited with code {self.exit_code()} before it was ready; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            if self.ready():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.name} was not ready after {timeout:.0f}s; log {self.log_path}")
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the child's process group; SIGKILL it if it has not exited after `timeout`."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait()
        # Grandchildren that outlived the leader still belong to its group.
        self._signal(signal.SIGKILL)

    def _signal(self, sig: int) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    def __enter__(self) -> ManagedProcess:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
