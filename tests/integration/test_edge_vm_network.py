"""The SIP edge's listeners as it runs on a cloud VM (infra/azure: the container on the host
network, SIP_HOST=0.0.0.0 in its image, EDGE_CONTROL_HOST the VM's private address).

Real `python -m sip_edge` processes against Azurite and a one-node ConfigDB shard. Another
loopback address (127.0.0.2: on Linux the whole 127/8 is local) stands in for the VM's private
address, and the host's own route address for a NIC's.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.azurite import Azurite
from infra.local.commands import edge_command
from infra.local.configdb_cluster import LocalCluster
from infra.local.managed import ManagedProcess, http_ok
from infra.local.ports import free_port, rtp_port_range
from shared.settings import LOCAL_ENVIRONMENT, Settings
from tests.sip_fixtures import edge_events

pytestmark = pytest.mark.timeout(120)

TOKEN = "vm-network-control-token"


@pytest.fixture(scope="module")
def edge_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A local edge's environment: storage and a one-node shard that answer, no tenant."""
    base = tmp_path_factory.mktemp("edge-vm")
    with Azurite(base / "azurite") as azurite:
        cluster = LocalCluster(base_dir=base / "configdb", size=1)
        cluster.start()
        try:
            settings = Settings(
                pbx_environment=LOCAL_ENVIRONMENT,
                configdb_endpoints=cluster.endpoints,
                configdb_edge_token=cluster.edge_token,
                storage_connection=azurite.connection_string,
                data_dir=base,
            )
            yield {
                **settings.as_env(),
                "SIP_PORT": str(free_port()),
                "SIP_RTP_PORTS": rtp_port_range(8),
                "EDGE_CONTROL_TOKEN": TOKEN,
                "EDGE_DRAIN_SECONDS": "1",
            }
        finally:
            cluster.stop()


def edge(env: dict[str, str], tmp_path: Path, ready_url: str) -> ManagedProcess:
    return ManagedProcess(
        "sip_edge", edge_command(tmp_path / "edge"), tmp_path / "edge.log", http_ok(ready_url), env=env
    )


def test_control_api_listens_on_edge_control_host_only(edge_env: dict[str, str], tmp_path: Path) -> None:
    """It answers there, with its token on /v1, and not on 127.0.0.1; the image's HEALTHCHECK
    finds it there from the edge's own environment."""
    control = free_port()
    env = {**edge_env, "EDGE_CONTROL_HOST": "127.0.0.2", "EDGE_CONTROL_PORT": str(control)}
    url = f"http://127.0.0.2:{control}"
    with edge(env, tmp_path, f"{url}/healthz") as proc:
        assert httpx.get(f"{url}/healthz", timeout=5).json() == {"status": "ok"}
        calls = f"{url}/v1/tenants/t-1/calls"
        assert httpx.get(calls, timeout=5).status_code == 401
        assert httpx.get(calls, headers={"Authorization": "Bearer wrong"}, timeout=5).status_code == 401
        assert httpx.get(calls, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{control}/healthz", timeout=5)
        # The probe's own environment holds the default address and port (127.0.0.1:7401, from
        # as_env): it finds the API only by reading the edge's.
        probe = [sys.executable, "-m", "sip_edge.healthcheck", "--pid", str(proc.pid)]
        healthy = subprocess.run(probe, env=edge_env, capture_output=True, text=True, timeout=60)
        assert healthy.returncode == 0, healthy.stderr


def route_address() -> str:
    """The address this host sends from on its default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))
        except OSError:
            pytest.skip("no IPv4 route off this host")
        address = str(s.getsockname()[0])
    if address.startswith("127."):
        pytest.skip("this host has no address but loopback")
    return address


def invite(host: str, port: int, number: str) -> bytes:
    """One UDP INVITE from `host` to the edge; the edge's final answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        s.settimeout(10)
        me = f"{host}:{s.getsockname()[1]}"
        sdp = (
            f"v=0\r\no=- 1 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        call_id = uuid.uuid4().hex
        message = (
            f"INVITE sip:{number}@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {me};branch=z9hG4bK{call_id[:12]};rport\r\n"
            f"From: <sip:+15550001111@{host}>;tag=vm1\r\nTo: <sip:{number}@{host}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContact: <sip:trunk@{me}>\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        )
        s.sendto(message.encode(), (host, port))
        while True:
            answer, _ = s.recvfrom(65535)
            if answer.split(b" ", 2)[1] >= b"200":
                return answer


def test_sip_on_a_wildcard_host_takes_calls_on_the_hosts_address(
    edge_env: dict[str, str], tmp_path: Path
) -> None:
    """SIP_HOST=0.0.0.0 (the image's): the edge listens on the host's addresses, so an INVITE
    to the NIC's address is answered (404: no tenant has the number) by the edge itself."""
    host, control = route_address(), free_port()
    env = {
        **edge_env,
        "SIP_HOST": "0.0.0.0",
        "TRUNK_ALLOWED_SOURCES": host,
        "EDGE_CONTROL_PORT": str(control),
    }
    with edge(env, tmp_path, f"http://127.0.0.1:{control}/healthz") as proc:
        answer = invite(host, int(env["SIP_PORT"]), "+15559990000")
        assert answer.startswith(b"SIP/2.0 404 "), answer.decode(errors="replace")
        refused = edge_events(proc.log_path, "invite_rejected")
        assert [(e["status"], e["source"].rsplit(":", 1)[0]) for e in refused] == [(404, host)]
