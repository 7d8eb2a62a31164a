"""The API's read cache across real processes (functions/http_api/read_cache.py).

Two API processes (uvicorn, `create_app`) share one real 3-node ConfigDB shard. A write through
one is visible to a read through the same process at once (read-your-writes) and through the
other within the watch latency; neither ever goes back to an older value once it has shown a
newer one. A signed-out or demoted user's token is refused by the other process as soon as its
watch has the change.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from functions.http_api.app import create_app
from infra.local.configdb_cluster import LocalCluster, free_port

from .test_api_accounts import API, RecordingBus, settings_for
from .test_api_regions_limits import Served, signed_up

ROOT = Path(__file__).resolve().parents[2]
# The watch latency bound the test allows (a change reaches another process's cache in a few
# milliseconds; the margin is for a loaded machine).
VISIBLE_WITHIN_S = 3.0


class ApiProcess:
    def __init__(self, cluster: LocalCluster) -> None:
        self.port = free_port()
        settings = {
            "configdb_endpoints": cluster.endpoints,
            "configdb_token": cluster.token,
            "region": "local",
            "region_base_urls": {"local": "http://127.0.0.1:7071/api"},
            "public_base_url": "https://app.pbx.example",
        }
        env = {**os.environ, "PBX_ENVIRONMENT": "local"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.api_process", str(self.port), json.dumps(settings)],
            cwd=ROOT,
            env=env,
        )
        self.base = f"http://127.0.0.1:{self.port}"

    def wait_up(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "the API process exited"
            try:
                if httpx.get(f"{self.base}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError("the API process did not start")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def two_apis(cluster: LocalCluster) -> Iterator[tuple[ApiProcess, ApiProcess, dict[str, str]]]:
    cluster.wait_healthy()
    apis = ApiProcess(cluster), ApiProcess(cluster)  # they start while the tenant signs up
    try:
        bus = RecordingBus()
        app = create_app(settings_for(cluster), bus=bus)
        with Served(app, bus) as s, httpx.Client(base_url=s.base) as api:
            _, auth = signed_up(api, bus, "owner@cache.example")
        for a in apis:
            a.wait_up()
        yield apis[0], apis[1], auth
    finally:
        for a in apis:
            a.stop()


def test_a_write_is_read_at_once_by_its_process_and_soon_by_another(
    two_apis: tuple[ApiProcess, ApiProcess, dict[str, str]],
) -> None:
    a, b, auth = two_apis
    with (
        httpx.Client(base_url=a.base, headers=auth, timeout=30) as ca,
        httpx.Client(base_url=b.base, headers=auth, timeout=30) as cb,
    ):
        for c in (ca, cb):  # the first reads start each process's watch
            assert c.get(f"{API}/tenant").status_code == 200
        time.sleep(0.5)  # let the snapshots load, so the reads below come from the caches
        for i in range(15):
            name = f"Acme {i}"
            w = ca.patch(f"{API}/tenant", json={"name": name})
            assert w.status_code == 200, w.text
            revision = int(w.headers["ETag"].strip('"'))
            mine = ca.get(f"{API}/tenant")  # read-your-writes: at once, no waiting
            assert mine.status_code == 200
            assert mine.json()["name"] == name
            assert int(mine.headers["ETag"].strip('"')) == revision
            deadline = time.monotonic() + VISIBLE_WITHIN_S
            while True:
                theirs = cb.get(f"{API}/tenant")
                assert theirs.status_code == 200
                if theirs.json()["name"] == name:
                    break
                assert theirs.json()["name"] == (f"Acme {i - 1}" if i else "Acme"), "went back in time"
                assert time.monotonic() < deadline, f"{name!r} not visible through the other process"
                time.sleep(0.005)
            assert int(theirs.headers["ETag"].strip('"')) == revision
            # Writes through the other process are seen by the first one the same way.
            assert ca.get(f"{API}/users").status_code == 200


def test_a_revoked_token_is_refused_by_the_other_process_within_the_watch_latency(
    two_apis: tuple[ApiProcess, ApiProcess, dict[str, str]],
) -> None:
    a, b, auth = two_apis
    with (
        httpx.Client(base_url=a.base, headers=auth, timeout=30) as ca,
        httpx.Client(base_url=b.base, headers=auth, timeout=30) as cb,
    ):
        users = cb.get(f"{API}/users")
        assert users.status_code == 200, users.text
        time.sleep(0.5)
        me = users.json()["items"][0]["id"]
        assert cb.get(f"{API}/users").status_code == 200  # from B's cache
        body = {"password": "a new horse 22", "current_password": "correct horse 1"}
        changed = ca.patch(f"{API}/users/{me}", json=body)  # bumps auth_version: older tokens end
        assert changed.status_code == 200, changed.text
        assert ca.get(f"{API}/users").status_code == 401  # at once through the writer
        deadline = time.monotonic() + VISIBLE_WITHIN_S
        while cb.get(f"{API}/users").status_code == 200:
            assert time.monotonic() < deadline, "the old token still works through the other process"
            time.sleep(0.005)
        assert cb.get(f"{API}/users").status_code == 401
