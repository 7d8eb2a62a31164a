"""`python -m sip_edge.healthcheck`: the edge image's HEALTHCHECK.

Asks `GET /healthz` on the running edge's call-control API (loopback): its port is the edge's
`--control-port` flag when it was started with one (read from /proc), else EDGE_CONTROL_PORT
from the same settings the edge reads. Exit 0: alive; 1: not, or no edge runs.
"""

from __future__ import annotations

import argparse
import sys

from shared.container_health import local_url, probe, probe_pid, process_args
from shared.settings import Settings


def main(argv: list[str] | None = None) -> int:
    pid = probe_pid(sys.argv[1:] if argv is None else argv)
    service = process_args("sip_edge", pid=pid)
    if service is None:
        where = f"as pid {pid}" if pid else "here"
        print(f"no `python -m sip_edge` process runs {where}", file=sys.stderr)
        return 1
    flags = argparse.ArgumentParser(add_help=False)
    flags.add_argument("--control-port", type=int)
    port = flags.parse_known_args(service)[0].control_port or Settings().edge_control_port
    return probe(local_url("http", "127.0.0.1", port, "/healthz"))


if __name__ == "__main__":
    sys.exit(main())
