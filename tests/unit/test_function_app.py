"""The Functions entry point imports and serves its ASGI app."""

from fastapi.testclient import TestClient


def test_function_app_serves_health() -> None:
    import function_app
    from functions.http_api.app import create_app

    assert function_app.app is not None
    with TestClient(create_app()) as c:
        assert c.get("/api/v1/health").json() == {"status": "ok"}
