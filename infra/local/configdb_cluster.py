"""Start and stop a local ConfigDB shard as real node processes.

Used by `make run`, the integration tests and the benchmarks, so all three run the same
processes the same way. The nodes run with PBX_ENVIRONMENT=local and get their credentials by
environment, never on the command line: the admin token, the Raft peers' token, and a token
table with the functions' read-write token (CONFIGDB_APP_PREFIXES) and the edge's read-only one
(CONFIGDB_EDGE_PREFIXES).
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.settings import (
    CONFIGDB_APP_PREFIXES,
    CONFIGDB_EDGE_PREFIXES,
    DEV_CONFIGDB_APP_TOKEN,
    DEV_CONFIGDB_EDGE_TOKEN,
    DEV_CONFIGDB_PEER_TOKEN,
    DEV_CONFIGDB_TOKEN,
    LOCAL_ENVIRONMENT,
)

from .commands import configdb_node_command
from .ports import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class NodeProc:
    node_id: str
    data_dir: Path
    http_port: int
    stream_port: int
    raft_port: int
    log_path: Path
    scheme: str = "http"
    proc: subprocess.Popen[bytes] | None = None
    host: str = "127.0.0.1"

    @property
    def http(self) -> str:
        return f"{self.scheme}://{self.host}:{self.http_port}"

    @property
    def stream(self) -> str:
        return f"{self.host}:{self.stream_port}"

    @property
    def raft(self) -> str:
        return f"{self.host}:{self.raft_port}"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class LocalCluster:
    """A shard of `size` nodes. Ports default to free ones; `make run` passes the fixed ones."""

    base_dir: Path
    token: str = DEV_CONFIGDB_TOKEN  # admin
    app_token: str = DEV_CONFIGDB_APP_TOKEN  # the functions': read-write under CONFIGDB_APP_PREFIXES
    edge_token: str = DEV_CONFIGDB_EDGE_TOKEN  # the edge's: read-only under CONFIGDB_EDGE_PREFIXES
    peer_token: str = DEV_CONFIGDB_PEER_TOKEN  # what the nodes present to one another
    size: int = 3
    ports: list[tuple[int, int, int]] | None = None
    extra_args: list[str] = field(default_factory=list)
    tls: tuple[Path, Path] | None = None  # (cert, key): HTTPS, TLS streams and TLS between peers
    extra_env: dict[str, str] = field(default_factory=dict)  # added to every node's environment
    hosts: list[str] | None = None  # each node's address (default 127.0.0.1)
    launcher: Callable[[NodeProc], list[str]] | None = None  # a node's command prefix (ip netns exec)
    nodes: list[NodeProc] = field(default_factory=list)

    def __post_init__(self) -> None:
        ports = self.ports or [(free_port(), free_port(), free_port()) for _ in range(self.size)]
        for i, (h, s, r) in enumerate(ports, start=1):
            nid = f"n{i}"
            scheme = "https" if self.tls else "http"
            node = NodeProc(nid, self.base_dir / nid, h, s, r, self.base_dir / f"{nid}.log", scheme)
            if self.hosts:
                node.host = self.hosts[i - 1]
            self.nodes.append(node)

    @property
    def endpoints(self) -> list[str]:
        return [n.http for n in self.nodes]

    def headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def tokens_table(self) -> str:
        """CONFIGDB_TOKENS: the scoped client tokens besides the admin one."""
        return json.dumps(
            [
                {
                    "name": "functions",
                    "token": self.app_token,
                    "access": "write",
                    "prefixes": CONFIGDB_APP_PREFIXES,
                },
                {
                    "name": "edge",
                    "token": self.edge_token,
                    "access": "read",
                    "prefixes": CONFIGDB_EDGE_PREFIXES,
                },
            ]
        )

    def node_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PBX_ENVIRONMENT": LOCAL_ENVIRONMENT,
            "CONFIGDB_TOKEN": self.token,
            "CONFIGDB_PEER_TOKEN": self.peer_token,
            "CONFIGDB_TOKENS": self.tokens_table(),
            **self.extra_env,
        }

    def start_node(self, node: NodeProc) -> None:
        node.data_dir.mkdir(parents=True, exist_ok=True)
        peers = ",".join(n.raft for n in self.nodes if n is not node)
        cmd = configdb_node_command(
            "--node-id",
            node.node_id,
            "--data-dir",
            str(node.data_dir),
            "--http",
            f"{node.host}:{node.http_port}",
            "--stream",
            node.stream,
            "--raft",
            node.raft,
            "--peers",
            peers,
            *self.extra_args,
        )
        if self.tls:
            cmd += ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])]
        if self.launcher is not None:
            cmd = [*self.launcher(node), *cmd]
        logf = open(node.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        node.proc = subprocess.Popen(
            cmd, cwd=REPO, stdout=logf, stderr=subprocess.STDOUT, env=self.node_env()
        )
        logf.close()

    def start(self, timeout: float = 60.0) -> None:
        """Start every node and wait for a leader; on failure the nodes are stopped again."""
        try:
            for node in self.nodes:
                self.start_node(node)
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def kill(self, node: NodeProc, sig: int = signal.SIGKILL) -> None:
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(sig)
            node.proc.wait(10)

    def stop(self) -> None:
        for node in self.nodes:
            if node.alive():
                assert node.proc is not None
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.proc is not None:
                try:
                    node.proc.wait(10)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()

    def status(self, node: NodeProc, timeout: float = 1.0) -> dict[str, object] | None:
        try:
            verify = ssl.create_default_context(cafile=str(self.tls[0])) if self.tls else True
            r = httpx.get(f"{node.http}/v1/status", headers=self.headers(), timeout=timeout, verify=verify)
            return r.json() if r.status_code == 200 else None
        except httpx.HTTPError:
            return None

    def leader(self) -> NodeProc | None:
        for node in self.nodes:
            if node.alive():
                st = self.status(node)
                if st and st.get("role") == "leader":
                    return node
        return None

    def wait_healthy(self, timeout: float = 20.0) -> NodeProc:
        """Wait until every live node answers, one of them leads and every one knows it (a
        follower that has not heard from the new leader yet answers a write 503)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.proc is not None and node.proc.poll() is not None:
                    raise RuntimeError(f"{node.node_id} exited: {node.log_path.read_text()[-2000:]}")
            live = [n for n in self.nodes if n.alive()]
            sts = [self.status(n) for n in live]
            leaders = [n for n, st in zip(live, sts, strict=True) if st and st.get("role") == "leader"]
            known = len(leaders) == 1 and all(st and st.get("leader_id") == leaders[0].node_id for st in sts)
            if known:
                return leaders[0]
            time.sleep(0.05)
        raise TimeoutError("the cluster did not become healthy")

    def wait_applied(self, revision: int, nodes: list[NodeProc] | None = None, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        for node in nodes or [n for n in self.nodes if n.alive()]:
            while True:
                st = self.status(node)
                if st and int(st["revision"]) >= revision:  # type: ignore[call-overload]
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{node.node_id} did not reach revision {revision}: {st}")
                time.sleep(0.02)
