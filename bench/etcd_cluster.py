"""Three etcd members on loopback, for a side-by-side figure when Debian's etcd-server is installed."""

from __future__ import annotations

import base64
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from infra.local.configdb_cluster import free_port


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


class EtcdCluster:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.members = [(f"e{i}", free_port(), free_port()) for i in range(3)]
        self.procs: list[subprocess.Popen[bytes]] = []

    @staticmethod
    def available() -> bool:
        return shutil.which("etcd") is not None

    @property
    def client_ports(self) -> list[int]:
        return [c for _, c, _ in self.members]

    def start(self) -> None:
        initial = ",".join(f"{n}=http://127.0.0.1:{p}" for n, _, p in self.members)
        for name, cport, pport in self.members:
            log = open(self.base / f"{name}.log", "wb")  # noqa: SIM115
            self.procs.append(
                subprocess.Popen(
                    [
                        "etcd",
                        "--name",
                        name,
                        "--data-dir",
                        str(self.base / name),
                        "--listen-client-urls",
                        f"http://127.0.0.1:{cport}",
                        "--advertise-client-urls",
                        f"http://127.0.0.1:{cport}",
                        "--listen-peer-urls",
                        f"http://127.0.0.1:{pport}",
                        "--initial-advertise-peer-urls",
                        f"http://127.0.0.1:{pport}",
                        "--initial-cluster",
                        initial,
                        "--initial-cluster-state",
                        "new",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                r = httpx.post(
                    f"http://127.0.0.1:{self.client_ports[0]}/v3/kv/put",
                    json={"key": b64("warm"), "value": b64("1")},
                    timeout=1,
                )
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("etcd did not start")

    def leader_port(self) -> int:
        for port in self.client_ports:
            st = httpx.post(f"http://127.0.0.1:{port}/v3/maintenance/status", json={}).json()
            if st.get("leader") == st.get("header", {}).get("member_id"):
                return port
        return self.client_ports[0]

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.wait(10)
