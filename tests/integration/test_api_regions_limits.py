"""Region redirects (307) and body limits (413), over real HTTP.

The app is `create_app(settings)` served by uvicorn on a free port in a background thread,
against a real 3-node ConfigDB shard; the message bus is the recording one of
test_api_accounts (the verification token is read from it).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from functions.http_api.app import create_app
from functions.http_api.body_limit import DEFAULT_MAX_BODY_BYTES
from functions.http_api.regions import redirect_location
from infra.local.configdb_cluster import LocalCluster, free_port
from shared.configdb import ConfigDBClient
from shared.configdb_keys import tenant_index_key

from .test_api_accounts import API, PROBLEM, RecordingBus, settings_for, token_in


class Served:
    def __init__(self, app: FastAPI, bus: RecordingBus) -> None:
        self.app, self.bus = app, bus
        self.port = free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def served(cluster: LocalCluster) -> Iterator[Served]:
    cluster.wait_healthy()
    bus = RecordingBus()
    with Served(create_app(settings_for(cluster), bus=bus), bus) as s:
        yield s


def signed_up(api: httpx.Client, bus: RecordingBus, email: str) -> tuple[str, dict[str, str]]:
    """Sign up, verify and log in: (tenant id, bearer header)."""
    body = {"company": "Acme", "name": "Olive Owner", "email": email, "password": "correct horse 1"}
    r = api.post(f"{API}/signup", json=body)
    assert r.status_code == 201, r.text
    assert (
        api.post(f"{API}/signup/verify", json={"token": token_in(bus.last("verify", email))}).status_code
        == 200
    )
    login = api.post(f"{API}/auth/login", json={"email": email, "password": "correct horse 1"})
    assert login.status_code == 200, login.text
    return r.json()["tenant"]["id"], {"Authorization": f"Bearer {login.json()['access_token']}"}


def home(cluster: LocalCluster, tenant_id: str, region: str) -> None:
    """Re-home a tenant the way a migration would: its index entry in ConfigDB."""
    with ConfigDBClient(cluster.endpoints, cluster.token) as db:
        db.put(tenant_index_key(tenant_id), {"region": region})


def test_redirect_location_keeps_path_and_query() -> None:
    base = "https://eu.pbx.example/api"
    assert (
        redirect_location(base, "/api/v1/users", "a=1&b=2") == "https://eu.pbx.example/api/v1/users?a=1&b=2"
    )
    assert redirect_location(base + "/", "/api/v1/tenant") == "https://eu.pbx.example/api/v1/tenant"


def test_tenant_homed_elsewhere_gets_307_to_its_region(cluster: LocalCluster, served: Served) -> None:
    served.app.state.ctx.homes.ttl = 0.0  # see each re-homing at once (the cache is covered below)
    with httpx.Client(base_url=served.base, timeout=10) as api:
        tid_a, auth_a = signed_up(api, served.bus, "a@regions.test")
        tid_b, auth_b = signed_up(api, served.bus, "b@regions.test")
        assert api.get(f"{API}/users", headers=auth_a).status_code == 200

        home(cluster, tid_a, "eu")
        r = api.get(f"{API}/users", params={"limit": "5"}, headers=auth_a)
        assert r.status_code == 307, r.text
        assert r.headers["location"] == "https://eu.pbx.example/api/v1/users?limit=5"
        assert r.headers["content-type"] == PROBLEM
        assert r.json()["region"] == "eu" and r.json()["status"] == 307
        # every tenant route, any method; 307 tells the client to repeat the same method and body
        r = api.patch(f"{API}/tenant", json={"name": "Acme EU"}, headers=auth_a)
        assert r.status_code == 307 and r.headers["location"] == "https://eu.pbx.example/api/v1/tenant"
        assert api.get(f"{API}/ivr-menus", headers=auth_a).status_code == 307
        # the other tenant is untouched; nothing was changed for A
        assert api.get(f"{API}/tenant", headers=auth_b).json()["name"] == "Acme"

        # a home region with no known base URL is served here (and logged), not refused
        home(cluster, tid_a, "mars")
        assert api.get(f"{API}/users", headers=auth_a).status_code == 200
        home(cluster, tid_a, "local")
        assert api.get(f"{API}/tenant", headers=auth_a).json()["name"] == "Acme"
        # an unauthenticated request is still 401, not a redirect
        assert api.get(f"{API}/users").status_code == 401
        assert tid_b != tid_a


def test_home_region_is_cached_briefly(cluster: LocalCluster, served: Served) -> None:
    homes = served.app.state.ctx.homes
    with httpx.Client(base_url=served.base, timeout=10) as api:
        tid, auth = signed_up(api, served.bus, "c@regions.test")
        assert api.get(f"{API}/users", headers=auth).status_code == 200
        home(cluster, tid, "eu")
        assert api.get(f"{API}/users", headers=auth).status_code == 200  # cached: still here
        homes.forget(tid)
        assert api.get(f"{API}/users", headers=auth).status_code == 307


def raw_exchange(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes and read one HTTP/1.1 response (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head_part, _, rest = data.partition(b"\r\n\r\n")
        lines = head_part.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return int(lines[0].split()[1]), headers, rest[:length]


def test_oversize_bodies_get_413_problem(served: Served) -> None:
    limit = DEFAULT_MAX_BODY_BYTES
    # 1) Content-Length over the limit: refused before a byte of the body is sent
    head = (
        f"POST {API}/auth/login HTTP/1.1\r\nHost: api.test\r\nContent-Type: application/json\r\n"
        f"Content-Length: {limit + 1}\r\n\r\n"
    ).encode()
    status, headers, body = raw_exchange(served.port, head)
    assert status == 413 and headers["content-type"] == PROBLEM
    problem: dict[str, Any] = json.loads(body)
    assert problem["status"] == 413 and problem["limit"] == limit and str(limit + 1) in problem["detail"]

    with httpx.Client(base_url=served.base, timeout=30) as api:
        # 2) no Content-Length (chunked): counted while read, refused once past the limit
        def chunks() -> Iterator[bytes]:
            yield b'{"email": "a@b.test", "password": "'
            for _ in range(limit // 65536 + 2):
                yield b"x" * 65536
            yield b'"}'

        r = api.post(f"{API}/auth/login", content=chunks(), headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == PROBLEM and r.json()["limit"] == limit

        # any route with a body, authenticated or not: the size is judged first
        r = api.post(
            f"{API}/users", content=b"{" + b" " * limit + b"}", headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 413 and r.headers["content-type"] == PROBLEM

        # just under the limit is parsed as usual (here: a 422 for a too-long password)
        pad = limit - 200
        ok = api.post(f"{API}/auth/login", json={"email": "a@b.test", "password": "x" * pad})
        assert ok.status_code == 422, ok.text

        # the prompts routes take bigger bodies (a 10 MB file plus its multipart framing)
        big = api.post(f"{API}/prompts", content=b"x" * (limit + 10), headers={"Content-Type": "text/plain"})
        assert big.status_code == 401  # judged past the size check: no token
