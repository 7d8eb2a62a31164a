"""The API's RequestIds middleware: every request is in a W3C trace (the client's `traceparent`
or a fresh one), answered as `traceparent`; `X-Request-Id` and the problem `instance` name it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from functions.http_api.app import create_app
from shared.tracing import parse_traceparent

GIVEN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app()) as c:
        yield c


def test_a_valid_traceparent_is_continued_and_names_the_request(client: TestClient) -> None:
    r = client.get("/api/v1/nothing", headers={"traceparent": GIVEN})
    assert r.status_code == 404
    assert r.headers["traceparent"] == GIVEN
    assert r.headers["x-request-id"] == TRACE
    assert r.json()["instance"] == f"urn:request:{TRACE}"


@pytest.mark.parametrize("header", [None, "garbage", "00-" + "0" * 32 + "-00f067aa0ba902b7-01"])
def test_without_a_valid_traceparent_a_fresh_trace_starts(client: TestClient, header: str | None) -> None:
    seen = set()
    for _ in range(2):
        r = client.get("/api/v1/health", headers={"traceparent": header} if header else {})
        assert r.status_code == 200
        parsed = parse_traceparent(r.headers["traceparent"])
        assert parsed is not None
        assert r.headers["x-request-id"] == parsed[0]
        seen.add(parsed[0])
    assert len(seen) == 2, "each request has its own trace"


def test_a_client_request_id_is_kept_next_to_the_trace(client: TestClient) -> None:
    r = client.get("/api/v1/nothing", headers={"traceparent": GIVEN, "X-Request-Id": "my-request-0001"})
    assert r.headers["x-request-id"] == "my-request-0001"
    assert r.headers["traceparent"] == GIVEN
    assert r.json()["instance"] == "urn:request:my-request-0001"
    # the next request without one is named by its trace again
    r = client.get("/api/v1/nothing", headers={"traceparent": GIVEN})
    assert r.json()["instance"] == f"urn:request:{TRACE}"


def test_an_insane_request_id_is_replaced_by_the_trace_id(client: TestClient) -> None:
    r = client.get("/api/v1/nothing", headers={"traceparent": GIVEN, "X-Request-Id": "x y"})
    assert r.headers["x-request-id"] == TRACE
