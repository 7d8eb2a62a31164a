"""Bad input gets a 4xx problem+json and the node keeps serving."""

from __future__ import annotations

import socket
import struct

import httpx
import pytest

from infra.local.configdb_cluster import LocalCluster


@pytest.fixture
def node(cluster: LocalCluster) -> tuple[str, httpx.Client]:
    cluster.wait_healthy()
    return cluster.nodes[0].http, httpx.Client(headers=cluster.headers(), timeout=5)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"),
    [
        ("PUT", "/v1/kv/k", {"content": b"{not json"}, 400),
        ("PUT", "/v1/kv/k", {"content": b'"' + b"x" * (1024 * 1024 + 10) + b'"'}, 413),
        ("PUT", "/v1/kv/", {"content": b"1"}, 400),
        ("PUT", "/v1/kv/" + "k" * 1025, {"content": b"1"}, 400),
        ("PUT", "/v1/kv/a%01b", {"content": b"1"}, 400),
        ("PUT", "/v1/kv/k?prev_revision=abc", {"content": b"1"}, 400),
        ("PUT", "/v1/kv/k?prev_revision=-1", {"content": b"1"}, 400),
        ("GET", "/v1/kv?prefix=a&limit=0", {}, 400),
        ("POST", "/v1/txn", {"content": b"[]"}, 400),
        ("POST", "/v1/txn", {"json": {"success": [{"put": "a"}]}}, 400),
        ("POST", "/v1/txn", {"json": {"compare": [{"key": "", "revision": 0}]}}, 400),
        ("GET", "/v1/nothing-here", {}, 404),
        ("GET", "/v1/discovery", {}, 400),
    ],
)
def test_bad_http_input(
    node: tuple[str, httpx.Client], method: str, path: str, kwargs: dict, status: int
) -> None:
    base, c = node
    r = c.request(method, base + path, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert c.put(f"{base}/v1/kv/still-serving", json=1).status_code == 200


def test_missing_token_is_refused(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.get(f"{cluster.nodes[0].http}/v1/status", headers=headers)
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"


def _stream_exchange(port: int, payload: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(payload)
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def test_malformed_stream_frames_close_only_that_connection(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    port = cluster.nodes[0].stream_port
    too_big = struct.pack(">I", 10 * 1024 * 1024)
    garbage = struct.pack(">I", 5) + b"\xff\xfe{{{"
    bad_token = b'{"token":"nope","op":"watch","prefix":""}'
    for payload in (too_big, garbage, struct.pack(">I", len(bad_token)) + bad_token):
        answer = _stream_exchange(port, payload)
        assert b'"type":"error"' in answer
    assert httpx.get(f"{cluster.nodes[0].http}/v1/status", headers=cluster.headers()).status_code == 200
