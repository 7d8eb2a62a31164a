"""TLS on both client ports, and discovery from a topology file."""

from __future__ import annotations

import json
import socket
import ssl
import struct
import subprocess
from pathlib import Path

import httpx
import orjson

from infra.local.configdb_cluster import LocalCluster, free_port
from tests.waiting import until_answered


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_http_and_stream(cluster_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cert, key = _self_signed(tmp_path)
    cluster: LocalCluster = cluster_factory(tls=(cert, key))
    node = cluster.nodes[0]
    assert node.http.startswith("https://")
    with httpx.Client(headers=cluster.headers(), verify=ssl.create_default_context(cafile=str(cert))) as c:
        put = {"json": {"a": 1}, "params": {"request_id": "secure-1"}}  # retried on 503/504: applied once
        rev = until_answered(lambda: c.put(f"{node.http}/v1/kv/secure", **put))["revision"]
        assert c.get(f"{node.http}/v1/status").json()["stream"].startswith("tls://")
    ctx = ssl.create_default_context(cafile=str(cert))
    with (
        socket.create_connection(("127.0.0.1", node.stream_port)) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        req = orjson.dumps({"token": cluster.token, "op": "snapshot", "prefix": "secure"})
        s.sendall(struct.pack(">I", len(req)) + req)
        frames = []
        buf = b""
        while not frames or frames[-1]["type"] != "snapshot_end":
            buf += s.recv(65536)
            while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">I", buf[:4])[0]:
                size = struct.unpack(">I", buf[:4])[0]
                frames.append(orjson.loads(buf[4 : 4 + size]))
                buf = buf[4 + size :]
    assert frames[0]["items"] == [{"key": "secure", "value": {"a": 1}, "revision": rev}]
    assert frames[-1] == {"type": "snapshot_end", "revision": rev}
    # plain HTTP to a TLS port gets nowhere
    try:
        plain = httpx.get(
            f"http://127.0.0.1:{node.http_port}/v1/status", headers=cluster.headers(), timeout=2
        )
        assert plain.status_code >= 400
    except httpx.HTTPError:
        pass


def test_discovery_across_regions_and_shards(cluster_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ports = [(free_port(), free_port(), free_port()) for _ in range(3)]
    topo = {
        "default_region": "weu",
        "regions": {
            "weu": {
                "number_prefixes": ["+44"],
                "shards": {
                    "weu-1": {
                        "nodes": [
                            {
                                "node_id": f"n{i + 1}",
                                "http": f"http://127.0.0.1:{h}",
                                "stream": f"tcp://127.0.0.1:{s}",
                            }
                            for i, (h, s, _) in enumerate(ports)
                        ]
                    },
                    "weu-2": {
                        "nodes": [
                            {
                                "node_id": "m1",
                                "http": "http://127.0.2.9:7101",
                                "stream": "tcp://127.0.2.9:7201",
                            }
                        ]
                    },
                },
            },
            "eus": {
                "number_prefixes": ["+1"],
                "shards": {
                    "eus-1": {
                        "nodes": [
                            {
                                "node_id": "e1",
                                "http": "http://127.0.3.1:7101",
                                "stream": "tcp://127.0.3.1:7201",
                            }
                        ]
                    },
                },
            },
        },
    }
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(topo))
    cluster: LocalCluster = cluster_factory(ports=ports, extra_args=["--topology", str(path)])
    base = cluster.nodes[0].http
    with httpx.Client(headers=cluster.headers()) as c:
        st = c.get(f"{base}/v1/status").json()
        assert (st["region"], st["shard"]) == ("weu", "weu-1")
        # Tenants spread over the region's shards by rendezvous hashing, stably.
        shards = {
            c.get(f"{base}/v1/discovery", params={"tenant": f"t{i}"}).json()["shard"] for i in range(40)
        }
        assert shards == {"weu-1", "weu-2"}
        a = c.get(f"{base}/v1/discovery", params={"tenant": "t7"}).json()
        assert a == c.get(f"{cluster.nodes[2].http}/v1/discovery", params={"tenant": "t7"}).json()
        # A tenant whose home is another region is sent there.
        c.put(f"{base}/v1/kv/idx/tenant/acme", json={"region": "eus"})
        d = c.get(f"{base}/v1/discovery", params={"tenant": "acme"}).json()
        assert d["region"] == "eus" and d["shard"] == "eus-1" and d["nodes"][0]["node_id"] == "e1"
        # A number resolves through its index to the tenant.
        c.put(f"{base}/v1/kv/idx/number/+15551234567", json="acme")
        n = c.get(f"{base}/v1/discovery", params={"number": "+15551234567"}).json()
        assert n["region"] == "eus" and n["tenant"] == "acme"
        missing = c.get(f"{base}/v1/discovery", params={"number": "+15550000000"})
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
