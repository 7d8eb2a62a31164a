"""`python -m configdb_nodes.healthcheck`: the node image's HEALTHCHECK.

Reads the running node's flags (`python -m configdb_nodes ...`, from /proc), parses them with
the node's own parser, and asks `GET /healthz` on its `--http` address (https with --tls-cert,
the certificate checked against --tls-ca or itself). Exit 0: alive; 1: not, or no node runs.
"""

from __future__ import annotations

import sys

from shared.container_health import local_url, probe, probe_pid, process_args

from .__main__ import parse_args


def main(argv: list[str] | None = None) -> int:
    pid = probe_pid(sys.argv[1:] if argv is None else argv)
    service = process_args("configdb_nodes", pid=pid)
    if service is None:
        where = f"as pid {pid}" if pid else "here"
        print(f"no `python -m configdb_nodes` process runs {where}", file=sys.stderr)
        return 1
    args = parse_args(service)
    host, port = args.http
    scheme = "https" if args.tls_cert else "http"
    return probe(local_url(scheme, host, port, "/healthz"), cafile=args.tls_ca or args.tls_cert)


if __name__ == "__main__":
    sys.exit(main())
