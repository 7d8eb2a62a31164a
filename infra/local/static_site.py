"""The local static host of the web portal (web/): files, the history-API fallback, /config.json
and the security headers. Azure serves the same files from Static Web Apps
(web/staticwebapp.config.json carries the same fallback and headers).

    python -m infra.local.static_site --host 127.0.0.1 --port 8080 --root web \
        --api-base http://127.0.0.1:7071/api/v1 [--media-origin http://127.0.0.1:10000]

- A GET for an existing file under the root serves it (with the right content type).
- A GET for a path without a file extension that is not a file serves index.html, so the site's
  real paths (/users, /verify?token=...) survive a reload; other misses are 404.
- GET /config.json is `{"apiBase": <api-base>}`: the site reads it at start (no inline script).
- Every response carries the Content-Security-Policy, X-Content-Type-Options and Referrer-Policy.
"""

from __future__ import annotations

import argparse
import mimetypes
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MEDIA_ORIGIN = "http://127.0.0.1:10000"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".wav": "audio/wav",
    ".txt": "text/plain; charset=utf-8",
    ".webmanifest": "application/manifest+json",
}


def origin_of(url: str) -> str:
    """`http://127.0.0.1:7071/api/v1` -> `http://127.0.0.1:7071` (ValueError if not http(s))."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http(s) URL")
    return f"{parts.scheme}://{parts.netloc}"


def content_security_policy(api_origin: str, media_origin: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"media-src 'self' blob: {media_origin}",
            f"connect-src 'self' {api_origin}",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
            "form-action 'self'",
        ]
    )


def security_headers(api_base: str, media_origin: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(origin_of(api_base), origin_of(media_origin)),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


class SecurityHeaders:
    """Adds the headers to every HTTP response (404s and errors included)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in self.raw}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": kept + self.raw}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def resolve(root: Path, url_path: str) -> Path | None:
    """The file under `root` a URL path names, or None (missing, a directory, or outside root)."""
    parts = [p for p in PurePosixPath(url_path).parts if p not in ("/", "")]
    if any(p in (".", "..") or "\\" in p or "\x00" in p for p in parts):
        return None
    candidate = root.joinpath(*parts).resolve() if parts else root
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def create_app(root: Path, api_base: str, media_origin: str = DEFAULT_MEDIA_ORIGIN) -> ASGIApp:
    root = root.resolve()
    api_base = api_base.rstrip("/")
    headers = security_headers(api_base, media_origin)
    index = root / "index.html"

    async def config(_: Request) -> Response:
        return JSONResponse({"apiBase": api_base}, headers={"Cache-Control": "no-store"})

    async def serve(request: Request) -> Response:
        path = request.url.path
        found = resolve(root, path)
        if found is not None:
            kind = CONTENT_TYPES.get(found.suffix.lower()) or mimetypes.guess_type(found.name)[0]
            return FileResponse(found, media_type=kind or "application/octet-stream", headers=_no_cache())
        if not PurePosixPath(path).suffix and index.is_file():
            return FileResponse(index, media_type=CONTENT_TYPES[".html"], headers=_no_cache())
        return PlainTextResponse("Not found", status_code=404)

    app = Starlette(
        routes=[
            Route("/config.json", config, methods=["GET", "HEAD"]),
            Route("/{path:path}", serve, methods=["GET", "HEAD"]),
        ]
    )
    return SecurityHeaders(app, headers)


def _no_cache() -> dict[str, str]:
    # Local development: always revalidate, so an edited module is picked up on reload.
    return {"Cache-Control": "no-cache"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve the web portal with its security headers.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--root", type=Path, default=Path("web"))
    parser.add_argument("--api-base", required=True, help="e.g. http://127.0.0.1:7071/api/v1")
    parser.add_argument("--media-origin", default=DEFAULT_MEDIA_ORIGIN, help="the Blob origin of SAS URLs")
    args = parser.parse_args(argv)
    if not args.root.is_dir():
        parser.error(f"--root {args.root} is not a directory")
    try:
        app = create_app(args.root, args.api_base, args.media_origin)
    except ValueError as exc:
        parser.error(str(exc))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
