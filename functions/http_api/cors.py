"""CORS for the web portal: the site is on another origin than the API.

Only the configured origins (`Settings.cors_origins`: WEB_ORIGINS, else the origin of
PUBLIC_BASE_URL) are allowed, with credentials (the refresh cookie of /auth/session). Another
origin's preflight gets 400 without Access-Control-Allow-Origin, and its simple requests get no
CORS headers, so the browser withholds the response.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

ALLOW_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
ALLOW_HEADERS = ["Authorization", "Content-Type", "If-Match"]
EXPOSE_HEADERS = ["ETag", "Location", "X-Request-Id"]
PREFLIGHT_MAX_AGE = 600


def install_cors(app: FastAPI, origins: list[str]) -> None:
    """Add the middleware; call it after the other middlewares so it is the outermost one."""
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=ALLOW_METHODS,
        allow_headers=ALLOW_HEADERS,
        expose_headers=EXPOSE_HEADERS,
        max_age=PREFLIGHT_MAX_AGE,
    )
