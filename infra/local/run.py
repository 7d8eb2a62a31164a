"""`make run`: start the local platform in the foreground; Ctrl-C stops everything.

For now the platform is one 3-node ConfigDB shard on the design's fixed ports
(HTTP 7101-7103, stream 7201-7203, raft 7301-7303), with data under .data/configdb.
"""

from __future__ import annotations

import signal
import sys
import time

from .configdb_cluster import REPO, LocalCluster

PORTS = [(7101, 7201, 7301), (7102, 7202, 7302), (7103, 7203, 7303)]
TOKEN = "dev-configdb-token"


def main() -> int:
    cluster = LocalCluster(base_dir=REPO / ".data" / "configdb", token=TOKEN, ports=PORTS)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print("starting the ConfigDB shard (3 nodes)...", flush=True)
    try:
        cluster.start()
    except (RuntimeError, TimeoutError) as exc:
        print(f"could not start: {exc}", file=sys.stderr)
        cluster.stop()
        return 1
    print("\nThe local platform is up:")
    for n in cluster.nodes:
        print(
            f"  configdb {n.node_id}: http {n.http}  stream tcp://{n.stream}  raft {n.raft}  log {n.log_path}"
        )
    print(f"  token: {TOKEN}")
    print(
        "  try: .venv/bin/python -m configdb_nodes.admin --endpoints "
        f"{','.join(cluster.endpoints)} --token {TOKEN} status"
    )
    print("Ctrl-C stops everything.", flush=True)
    while not stopping:
        for n in cluster.nodes:
            if not n.alive():
                print(f"{n.node_id} exited; see {n.log_path}", file=sys.stderr)
                stopping = True
        time.sleep(0.5)
    print("\nstopping...", flush=True)
    cluster.stop()
    print("stopped.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
