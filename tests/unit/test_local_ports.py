"""The port allocator every test process and child shares (infra/local/ports.py)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local import ports
from infra.local.ports import PORT_RANGE, free_port, free_ports, rtp_port_range

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def own_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    ledger = tmp_path / "ledger"
    monkeypatch.setenv(ports.LEDGER_ENV, str(ledger))
    return ledger


def test_ports_are_below_the_ephemeral_range_and_never_repeat() -> None:
    got = [free_port() for _ in range(300)]
    assert len(set(got)) == len(got)
    assert all(PORT_RANGE[0] <= p <= PORT_RANGE[1] < 32768 for p in got)


def test_a_block_is_consecutive_aligned_and_not_handed_out_again() -> None:
    first = free_ports(8, align=2)
    assert first % 2 == 0
    later = {free_port() for _ in range(50)}
    assert not later & set(range(first, first + 8))
    low, high = (int(p) for p in rtp_port_range(4).split("-"))
    assert low % 2 == 0 and high == low + 7


def test_processes_sharing_the_ledger_never_get_the_same_port(own_ledger: Path) -> None:
    code = "from infra.local.ports import free_port\nprint(*(free_port() for _ in range(100)))"
    procs = [
        subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    got = [int(p) for proc in procs for p in proc.communicate(timeout=60)[0].split()]
    assert len(got) == 400 and len(set(got)) == 400


def test_a_port_in_use_is_skipped(own_ledger: Path) -> None:
    nxt = 25_000
    own_ledger.write_text(f"{nxt}\n")  # the counter's next candidate
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as held:
        with contextlib.suppress(OSError):  # already held elsewhere: in use all the same
            held.bind(("127.0.0.1", nxt))
        assert free_port() > nxt


def test_without_a_usable_ledger_ports_still_never_repeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ports.LEDGER_ENV, str(tmp_path / "no-such-dir" / "ledger"))
    got = [free_port() for _ in range(200)]
    assert len(set(got)) == len(got)
