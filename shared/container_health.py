"""What a container's HEALTHCHECK runs: find the service's own process, ask its `/healthz`.

`python -m configdb_nodes.healthcheck` and `python -m sip_edge.healthcheck` (the images'
HEALTHCHECK commands) use these helpers: `process_args` reads the flags the service was
started with from /proc (the container's ENTRYPOINT plus whatever the host added), and
`process_environ` the environment it was started with, so the probe asks the address and port
the service really listens on, and `probe` does one GET with the standard
library (the images carry no curl). Exit status 0: healthy, 1: not. `--pid N` probes that
process instead of the container's one (tests run several side by side).
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path

PROC = Path("/proc")
TIMEOUT_S = 4.0


def process_args(module: str, proc: Path = PROC, *, pid: int | None = None) -> list[str] | None:
    """The arguments after `-m MODULE` of the oldest running `python -m MODULE` (or of process
    `pid` only), or None."""
    found = service_process(module, proc, pid=pid)
    return found[1] if found else None


def service_process(
    module: str, proc: Path = PROC, *, pid: int | None = None
) -> tuple[int, list[str]] | None:
    """The pid and the arguments after `-m MODULE` of the oldest running `python -m MODULE` (or
    of process `pid` only), or None."""
    own = os.getpid()
    found: list[tuple[int, list[str]]] = []
    entries = [proc / str(pid)] if pid is not None else list(proc.iterdir())
    for entry in entries:
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [w.decode(errors="replace") for w in argv if w]
        for i in range(len(words) - 1):
            if words[i] == "-m" and words[i + 1] == module:
                found.append((int(entry.name), words[i + 2 :]))
                break
    return min(found) if found else None


def process_environ(pid: int, proc: Path = PROC) -> dict[str, str]:
    """The environment process `pid` was started with (empty when it cannot be read): what the
    service read its settings from, which a probe started later need not share."""
    try:
        raw = (proc / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.decode(errors="replace").partition("=") for item in raw.split(b"\0") if item)
    return {name: value for name, sep, value in pairs if sep}


def probe_pid(argv: list[str]) -> int | None:
    """`--pid N` on a probe's command line: the service process to probe (default: the one
    running in the container)."""
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--pid", type=int)
    return flags.parse_known_args(argv)[0].pid


def local_url(scheme: str, host: str, port: int, path: str) -> str:
    """The URL of `path` on a listener bound to `host:port`, as seen from inside the container:
    a wildcard bind is probed on loopback."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}{path}"


def probe(url: str, *, cafile: str | None = None) -> int:
    """GET `url`: 0 on a 2xx answer, else 1 with one line on stderr. With `cafile` (a TLS
    listener), the certificate is checked against it but not the host name (the probe dials
    loopback, the certificate names the host)."""
    context = None
    if url.startswith("https://"):
        context = ssl.create_default_context(cafile=cafile)
        context.check_hostname = False
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S, context=context) as resp:
            if 200 <= resp.status < 300:
                return 0
            print(f"{url}: HTTP {resp.status}", file=sys.stderr)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"{url}: {exc}", file=sys.stderr)
    return 1
