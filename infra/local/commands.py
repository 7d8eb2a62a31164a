"""The commands that start the two long-lived services: one source for the local stack, the
tests and the container images (`configdb_nodes/Dockerfile`, `sip_edge/Dockerfile`, whose
ENTRYPOINT and CMD `tests/unit/test_dockerfiles.py` checks against these).

The images run `python -m configdb_nodes` with the node's flags appended by the host, and
`python -m sip_edge --data-dir DIR` with every other setting from the environment.
"""

from __future__ import annotations

import sys
from pathlib import Path

CONFIGDB_NODE_MODULE = "configdb_nodes"
EDGE_MODULE = "sip_edge"


def configdb_node_command(*flags: str, python: str = sys.executable) -> list[str]:
    """`python -m configdb_nodes FLAGS...` (--node-id, --data-dir, --http, --stream, --raft, ...)."""
    return [python, "-m", CONFIGDB_NODE_MODULE, *flags]


def edge_command(data_dir: Path | str | None = None, *, python: str = sys.executable) -> list[str]:
    """`python -m sip_edge [--data-dir DIR]` (without DIR: DATA_DIR/edge)."""
    tail = ["--data-dir", str(data_dir)] if data_dir is not None else []
    return [python, "-m", EDGE_MODULE, *tail]
