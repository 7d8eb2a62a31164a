"""The Functions entry point imports and serves its ASGI app."""

from fastapi.testclient import TestClient


def test_function_app_serves_health() -> None:
    import function_app
    from functions.http_api.app import create_app

    assert function_app.app is not None
    with TestClient(create_app()) as c:
        assert c.get("/api/v1/health").json() == {"status": "ok"}


def test_unknown_route_is_problem_json() -> None:
    from functions.http_api.app import create_app

    with TestClient(create_app()) as c:
        r = c.get("/api/v1/nothing")
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["status"] == 404


def test_json_pointer_from_validation_location() -> None:
    from functions.http_api.problems import pointer

    assert pointer(("body", "options", 3, "digit")) == "/options/3/digit"
    assert pointer(("body", "a/b")) == "/a~1b"
    assert pointer(("query", "limit")) == "#query/limit"
