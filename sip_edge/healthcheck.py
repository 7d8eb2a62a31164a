"""`python -m sip_edge.healthcheck`: the edge image's HEALTHCHECK.

Asks `GET /healthz` on the running edge's call-control API, where the edge bound it: its
address is the edge's EDGE_CONTROL_HOST (a wildcard bind is asked on loopback) and its port the
edge's `--control-port` flag when it was started with one, else its EDGE_CONTROL_PORT -- both read
from the edge process's own environment in /proc, falling back on the settings this probe reads
itself. Exit 0: alive; 1: not, or no edge runs.
"""

from __future__ import annotations

import argparse
import sys

from shared.container_health import local_url, probe, probe_pid, process_environ, service_process
from shared.settings import Settings


def main(argv: list[str] | None = None) -> int:
    pid = probe_pid(sys.argv[1:] if argv is None else argv)
    found = service_process("sip_edge", pid=pid)
    if found is None:
        where = f"as pid {pid}" if pid else "here"
        print(f"no `python -m sip_edge` process runs {where}", file=sys.stderr)
        return 1
    service_pid, service = found
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--control-port", type=int)
    port = flags.parse_known_args(service)[0].control_port
    env = process_environ(service_pid)
    seen = {
        field: value
        for field, value in (
            ("edge_control_host", env.get("EDGE_CONTROL_HOST")),
            ("edge_control_port", port or env.get("EDGE_CONTROL_PORT")),
        )
        if value
    }
    settings = Settings(**seen)
    return probe(local_url("http", settings.edge_control_host, settings.edge_control_port, "/healthz"))


if __name__ == "__main__":
    sys.exit(main())
