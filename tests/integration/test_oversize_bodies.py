"""A body over the limit gets a 413 that a plain client reads every time, even when the
connection closes after the answer: the client's send of the whole body completes (no broken
pipe, no reset) and the answer follows. Both servers: a ConfigDB node and the functions API."""

from __future__ import annotations

import http.client
import json
from collections import Counter
from collections.abc import Iterator

import pytest

from functions.http_api.app import create_app
from functions.http_api.body_limit import DEFAULT_MAX_BODY_BYTES
from infra.local.configdb_cluster import LocalCluster
from tests.integration.test_api_accounts import API, RecordingBus, settings_for
from tests.integration.test_api_regions_limits import Served

SIZES = (2 * 1024 * 1024, 20 * 1024 * 1024)
TIMES = 20


def _plain_exchange(port: int, method: str, path: str, body: bytes, headers: dict[str, str]) -> str:
    """One request by http.client, which sends the whole body before it reads: the outcome
    as 'status' or the exception that ended it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers={**headers, "Connection": "close"})
        r = conn.getresponse()
        data = r.read()
        if r.status == 413:
            assert json.loads(data)["status"] == 413
        return str(r.status)
    except OSError as exc:
        return type(exc).__name__
    finally:
        conn.close()


def _outcomes(port: int, method: str, path: str, headers: dict[str, str]) -> dict[int, Counter[str]]:
    got: dict[int, Counter[str]] = {}
    for size in SIZES:
        body = b"x" * size
        got[size] = Counter(_plain_exchange(port, method, path, body, headers) for _ in range(TIMES))
    return got


def test_configdb_node_413_is_read_by_a_plain_client(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    node = cluster.nodes[0]
    got = _outcomes(node.http_port, "PUT", "/v1/kv/big/value", cluster.headers())
    print(got)
    assert got == {size: Counter({"413": TIMES}) for size in SIZES}


@pytest.fixture
def api(cluster: LocalCluster) -> Iterator[Served]:
    cluster.wait_healthy()
    bus = RecordingBus()
    with Served(create_app(settings_for(cluster), bus=bus), bus) as s:
        yield s


def test_functions_api_413_is_read_by_a_plain_client(api: Served) -> None:
    assert SIZES[0] > DEFAULT_MAX_BODY_BYTES
    got = _outcomes(api.port, "POST", f"{API}/auth/login", {"Content-Type": "application/json"})
    print(got)
    assert got == {size: Counter({"413": TIMES}) for size in SIZES}
