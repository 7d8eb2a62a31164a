"""Ports for the processes the local stack, the tests and the benchmarks start.

``free_port()`` hands out one port, ``free_ports(n)`` a block of ``n`` consecutive ones (an
RTP range for a SIP stack, say). Every port is

- below Linux's ephemeral range (32768+): a port the kernel picks for bind(0) is also where
  outgoing connections and other programs' bind(0) land, so it could be taken between our
  choice and the child's bind;
- free now for TCP and UDP on every address (checked by binding 0.0.0.0);
- never handed out twice: every process of the machine's user (the pytest-xdist workers,
  their children, a `make run` next to them) takes ports from one counter kept in a ledger
  file under an exclusive lock, so two processes cannot be given the same port before
  either has bound it. ``PBX_PORT_LEDGER`` names another ledger file. The counter wraps at
  the top of the range; by then the ports of its last round are long closed (and a port
  still held fails the bind check).

Should the ledger be unusable (an unwritable temp directory), ports come from a
process-local set instead: still never twice in this process.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

PORT_RANGE = (20000, 32000)  # inclusive; below the ephemeral range (32768-60999)
LEDGER_ENV = "PBX_PORT_LEDGER"

_HANDED_OUT: set[int] = set()  # the fallback's memory


def free_port() -> int:
    """A TCP and UDP port, free now and never handed out before."""
    return free_ports(1)


def free_ports(count: int, *, align: int = 1) -> int:
    """The first of ``count`` consecutive ports, each free for TCP and UDP and none handed out
    before; the first is a multiple of ``align`` (RTP wants an even port)."""
    if count < 1 or align < 1:
        raise ValueError("count and align must be at least 1")
    with _ledger() as ledger:
        if ledger is None:
            return _from_memory(count, align)
        low, high = PORT_RANGE
        span = high - low + 1
        start = _read_next(ledger)
        for step in range(0, span, 1):
            first = _align(low + (start - low + step) % span, align)
            if first + count - 1 > high:
                continue
            if all(_bindable(p) for p in range(first, first + count)):
                _write_next(ledger, first + count)
                return first
        raise RuntimeError(f"no {count} free consecutive ports in {PORT_RANGE}")


def rtp_port_range(pairs: int = 16) -> str:
    """``"LOW-HIGH"`` for a SIP stack's RTP ports (baresip's ``rtp_ports``, SIP_RTP_PORTS,
    ``--rtp-ports``): ``pairs`` even RTP ports, each with the odd one above for RTCP."""
    first = free_ports(2 * pairs, align=2)
    return f"{first}-{first + 2 * pairs - 1}"


def _align(port: int, align: int) -> int:
    return -(-port // align) * align


def _bindable(port: int) -> bool:
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                s.bind(("0.0.0.0", port))
    except OSError:
        return False
    return True


@contextlib.contextmanager
def _ledger() -> Iterator[int | None]:
    path = os.environ.get(LEDGER_ENV) or str(Path(tempfile.gettempdir()) / f"pbx-free-ports-{os.getuid()}")
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield None
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def _read_next(fd: int) -> int:
    low, high = PORT_RANGE
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 32).decode(errors="replace").strip()
    try:
        port = int(text)
    except ValueError:
        return random.randint(low, high)  # a new ledger starts anywhere in the range
    return port if low <= port <= high else low


def _write_next(fd: int, port: int) -> None:
    low, high = PORT_RANGE
    if port > high:
        port = low
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{port}\n".encode())


def _from_memory(count: int, align: int) -> int:
    low, high = PORT_RANGE
    for _ in range(500):
        first = _align(random.randint(low, high - count + 1), align)
        block = range(first, first + count)
        if first + count - 1 > high or any(p in _HANDED_OUT for p in block):
            continue
        if all(_bindable(p) for p in block):
            _HANDED_OUT.update(block)
            return first
    raise RuntimeError(f"no {count} free consecutive ports in {PORT_RANGE}")
