"""ManagedProcess: readiness, early exit, SIGTERM then SIGKILL, grandchildren, no leftovers."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from infra.local.managed import ManagedProcess


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"


def test_ready_then_sigterm(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    code = f"import pathlib,time; pathlib.Path({str(flag)!r}).touch(); time.sleep(60)"
    p = ManagedProcess("sleeper", py(code), tmp_path / "a.log", flag.exists)
    with p:
        assert p.alive()
    assert p.exit_code() == -15


def test_exit_before_ready_quotes_the_log(tmp_path: Path) -> None:
    p = ManagedProcess(
        "broken", py("import sys; print('boom here'); sys.exit(3)"), tmp_path / "b.log", lambda: False
    )
    p.start()
    with pytest.raises(RuntimeError, match=r"broken exited with code 3(.|\n)*boom here"):
        p.wait_ready(10)


def test_not_ready_in_time(tmp_path: Path) -> None:
    p = ManagedProcess("slow", py("import time; time.sleep(60)"), tmp_path / "c.log", lambda: False)
    p.start()
    try:
        with pytest.raises(TimeoutError, match="slow was not ready"):
            p.wait_ready(0.5)
    finally:
        p.stop()


def test_sigterm_ignored_gets_sigkill_and_grandchildren_go_too(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import signal, subprocess, sys, time, pathlib\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import signal,time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)'])\n"
        f"pathlib.Path({str(pidfile)!r}).write_text(str(g.pid))\n"
        "time.sleep(60)\n"
    )
    p = ManagedProcess("stubborn", py(code), tmp_path / "d.log", pidfile.exists)
    with p:
        grandchild = int(pidfile.read_text())
        t0 = time.monotonic()
        p.stop(timeout=0.5)
        assert time.monotonic() - t0 < 5
    assert p.exit_code() == -9
    deadline = time.monotonic() + 5
    while not gone(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(grandchild)
