"""Scoped ConfigDB credentials, against real node processes.

The shard (LocalCluster) runs with four distinct tokens: the admin token (CONFIGDB_TOKEN), the
functions' read-write token under the application's prefixes, the edge's read-only token under
`t/` and `idx/`, and the Raft peers' own token. A token outside its scope gets 403 on the HTTP
API, on transactions (the whole transaction) and on the stream port; an unknown one 401; a peer
presenting a client token is refused on the Raft port; with certificates the Raft port speaks TLS.
No token ever appears on a node's command line.
"""

from __future__ import annotations

import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest

from infra.local.configdb_cluster import LocalCluster
from shared.settings import CONFIGDB_APP_PREFIXES, CONFIGDB_EDGE_PREFIXES
from tests.integration.streamwire import StreamConn
from tests.waiting import eventually

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def shard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(base_dir=tmp_path_factory.mktemp("scopes"))
    cluster.start()
    yield cluster
    cluster.stop()


def answered(send: Any) -> httpx.Response:
    """The first response that is not 503/504 (a follower that has not heard of the leader yet)."""

    def attempt() -> httpx.Response | None:
        r: httpx.Response = send()
        return None if r.status_code in (503, 504) else r

    return eventually(attempt, timeout=30, interval=0.1, message="an answer other than 503/504")


def client(cluster: LocalCluster, token: str) -> httpx.Client:
    return httpx.Client(base_url=cluster.nodes[0].http, headers=cluster.headers(token), timeout=10)


def put(c: httpx.Client, key: str, value: Any) -> httpx.Response:
    return answered(lambda: c.put(f"/v1/kv/{key}", json=value))


def forbidden(r: httpx.Response) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["title"] == "Forbidden"


def stream_frames(cluster: LocalCluster, request: dict[str, Any], until: str) -> list[dict[str, Any]]:
    conn = StreamConn(cluster.nodes[0].stream_port, request)
    try:
        frames = [conn.frame()]
        while frames[-1]["type"] not in (until, "error"):
            frames.append(conn.frame())
        return frames
    finally:
        conn.close()


def test_the_scopes_cover_what_the_processes_use() -> None:
    assert set(CONFIGDB_EDGE_PREFIXES) <= set(CONFIGDB_APP_PREFIXES)
    assert {"t/", "idx/"} <= set(CONFIGDB_EDGE_PREFIXES)


def test_read_only_token_reads_and_watches_but_every_write_is_403(shard: LocalCluster) -> None:
    with client(shard, shard.token) as admin, client(shard, shard.edge_token) as edge:
        rev = put(admin, "t/ro/tenant/ro", {"name": "Read Only"}).json()["revision"]
        put(admin, "auth/refresh/ro", {"secret": 1})

        got = answered(lambda: edge.get("/v1/kv/t/ro/tenant/ro"))
        assert got.status_code == 200 and got.json()["value"] == {"name": "Read Only"}
        listed = answered(lambda: edge.get("/v1/kv", params={"prefix": "t/ro/"}))
        assert [i["key"] for i in listed.json()["items"]] == ["t/ro/tenant/ro"]
        assert answered(lambda: edge.get("/v1/status")).status_code == 200

        forbidden(edge.put("/v1/kv/t/ro/tenant/ro", json={"name": "changed"}))
        forbidden(edge.delete("/v1/kv/t/ro/tenant/ro"))
        forbidden(edge.post("/v1/txn", json={"success": [{"put": "t/ro/x", "value": 1}]}))
        forbidden(edge.post("/v1/txn", json={"compare": [{"key": "t/ro/tenant/ro", "revision": rev}]}))
        forbidden(edge.get("/v1/kv/auth/refresh/ro"))  # outside its prefixes, even to read
        forbidden(edge.get("/v1/kv", params={"prefix": ""}))
        assert admin.get("/v1/kv/t/ro/tenant/ro").json()["value"] == {"name": "Read Only"}

    frames = stream_frames(
        shard, {"token": shard.edge_token, "op": "snapshot", "prefix": "t/ro/"}, "snapshot_end"
    )
    assert frames[0]["items"][0]["key"] == "t/ro/tenant/ro" and frames[-1]["type"] == "snapshot_end"
    watch = StreamConn(
        shard.nodes[0].stream_port, {"token": shard.edge_token, "op": "watch", "prefix": "t/ro/"}
    )
    try:
        with client(shard, shard.token) as admin:
            put(admin, "t/ro/user/u1", {"name": "Ada"})
        frame = watch.frame()
        while frame["type"] != "events":
            frame = watch.frame()
        assert frame["events"][0]["key"] == "t/ro/user/u1"
    finally:
        watch.close()
    refused = stream_frames(shard, {"token": shard.edge_token, "op": "watch", "prefix": "auth/"}, "events")
    assert refused == [{"type": "error", "status": 403, "title": "Forbidden", "detail": refused[0]["detail"]}]


def test_functions_token_writes_the_app_prefixes_and_nothing_else(shard: LocalCluster) -> None:
    with client(shard, shard.app_token) as app, client(shard, shard.token) as admin:
        for key in ("t/fn/tenant/fn", "idx/tenant/fn", "auth/verify/fn", "jobs/fn", "cleanup/fn"):
            assert put(app, key, {"k": key}).status_code == 200, key
        assert answered(lambda: app.get("/v1/kv/idx/tenant/fn")).json()["value"] == {"k": "idx/tenant/fn"}

        forbidden(app.put("/v1/kv/other/fn", json=1))
        forbidden(app.delete("/v1/kv/topology/fn"))
        forbidden(app.get("/v1/kv", params={"prefix": ""}))
        # one key outside the scope refuses the whole transaction: nothing of it is written
        mixed = {"success": [{"put": "t/fn/user/u1", "value": 1}, {"put": "other/fn", "value": 2}]}
        forbidden(app.post("/v1/txn", json=mixed))
        forbidden(app.post("/v1/txn", json={"compare": [{"key": "other/fn", "revision": 0}]}))
        assert answered(lambda: admin.get("/v1/kv/t/fn/user/u1")).status_code == 404
        ok = {"success": [{"put": "t/fn/user/u1", "value": 1}, {"put": "idx/email/fn@x.example", "value": 2}]}
        assert answered(lambda: app.post("/v1/txn", json=ok)).json()["succeeded"] is True

    refused = stream_frames(shard, {"token": shard.app_token, "op": "snapshot", "prefix": ""}, "snapshot_end")
    assert refused[0]["type"] == "error" and refused[0]["status"] == 403


def test_admin_token_does_everything_and_unknown_tokens_are_401(shard: LocalCluster) -> None:
    with client(shard, shard.token) as admin:
        assert put(admin, "other/admin", {"a": 1}).status_code == 200
        txn = {"success": [{"put": "topology/x", "value": 1}, {"delete": "other/admin"}]}
        assert answered(lambda: admin.post("/v1/txn", json=txn)).json()["succeeded"] is True
        assert answered(lambda: admin.get("/v1/kv", params={"prefix": ""})).status_code == 200
    frames = stream_frames(shard, {"token": shard.token, "op": "snapshot", "prefix": ""}, "snapshot_end")
    assert frames[-1]["type"] == "snapshot_end"

    for token in ("wrong-token-of-some-length", shard.peer_token):
        with client(shard, token) as other:
            r = other.get("/v1/kv/t/ro/tenant/ro")
            assert r.status_code == 401 and r.headers["content-type"] == PROBLEM
        refused = stream_frames(shard, {"token": token, "op": "snapshot", "prefix": "t/"}, "snapshot_end")
        assert refused[0]["type"] == "error" and refused[0]["status"] == 401
    no_header = httpx.get(f"{shard.nodes[0].http}/v1/status", timeout=5)
    assert no_header.status_code == 401


def _hello(cluster: LocalCluster, token: str) -> bytes:
    peer = cluster.nodes[1]
    body = msgpack.packb(
        {
            "node_id": peer.node_id,
            "raft": peer.raft,
            "http": peer.http,
            "stream": f"tcp://{peer.stream}",
            "token": token,
        }
    )
    return struct.pack(">I", len(body)) + body


def _closed_by_peer(sock: socket.socket, within: float) -> bool:
    """The other side closed the connection within `within` seconds (EOF or reset; whatever it
    sent first, such as a TLS alert, is read past)."""
    deadline = time.monotonic() + within
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if sock.recv(4096) == b"":
                return True
    except TimeoutError:
        return False
    except (ConnectionError, ssl.SSLError):
        return True
    return False


def test_raft_port_refuses_a_client_token(shard: LocalCluster) -> None:
    node = shard.nodes[0]
    for token in (shard.token, shard.app_token, shard.edge_token):
        with socket.create_connection(("127.0.0.1", node.raft_port), timeout=5) as s:
            s.sendall(_hello(shard, token))
            assert _closed_by_peer(s, 5), "a client token was accepted on the raft port"
    # the peers' own token keeps the connection open (the node then waits for raft frames)
    with socket.create_connection(("127.0.0.1", node.raft_port), timeout=5) as s:
        s.sendall(_hello(shard, shard.peer_token))
        assert not _closed_by_peer(s, 1.5)
    assert "raft peer refused: bad token" in node.log_path.read_text()


def test_nodes_command_lines_hold_no_token(shard: LocalCluster) -> None:
    tokens = (shard.token, shard.app_token, shard.edge_token, shard.peer_token)
    for node in shard.nodes:
        assert node.proc is not None
        argv = Path(f"/proc/{node.proc.pid}/cmdline").read_bytes().split(b"\0")
        shown = b" ".join(argv).decode()
        assert "configdb_nodes" in shown
        assert not any(t in shown for t in tokens), shown
        assert "--token" not in shown


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_raft_port_speaks_tls_when_certificates_are_given(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    cluster = LocalCluster(base_dir=tmp_path / "tls", size=2, tls=(cert, key))
    cluster.start()  # a leader both nodes know: the peers verified each other's TLS
    try:
        node = cluster.nodes[0]
        ctx = ssl.create_default_context(cafile=str(cert))
        with (
            socket.create_connection(("127.0.0.1", node.raft_port), timeout=5) as raw,
            ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() is not None and tls.version().startswith("TLS")
            tls.sendall(_hello(cluster, cluster.peer_token))
            assert not _closed_by_peer(tls, 1.5)
        # a cleartext hello, even with the right token, is no TLS handshake: refused
        with socket.create_connection(("127.0.0.1", node.raft_port), timeout=5) as s:
            s.sendall(_hello(cluster, cluster.peer_token))
            assert _closed_by_peer(s, 5)
        assert cluster.status(node) is not None and cluster.leader() is not None
    finally:
        cluster.stop()
