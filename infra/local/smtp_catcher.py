"""A local SMTP server that accepts every message and keeps it as an .eml file.

    python -m infra.local.smtp_catcher --host 127.0.0.1 --port 2525 --dir .data/mail

Each message becomes `<dir>/<UTC timestamp>-<random>.eml` (the raw bytes as received,
with Return-Path and X-Envelope-To headers from the envelope prepended), and one JSON
line per message goes to stdout: {"event": "mail", "file", "from", "to", "subject", "bytes"}.
SIGTERM or SIGINT stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import sys
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session


class MailDirHandler:
    """aiosmtpd handler: write each message to its own file, atomically."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self) -> Path:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        return self.directory / f"{stamp}-{secrets.token_hex(4)}.eml"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        rcpts = list(envelope.rcpt_tos)
        head = f"Return-Path: <{mail_from}>\r\nX-Envelope-To: {', '.join(rcpts)}\r\n".encode()
        path = self._path()
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(head + raw)
        os.replace(tmp, path)
        headers = BytesHeaderParser(policy=default_policy).parsebytes(raw)
        line = {
            "event": "mail",
            "file": str(path),
            "from": mail_from,
            "to": rcpts,
            "subject": str(headers.get("Subject", "")),
            "bytes": len(raw),
        }
        print(json.dumps(line), flush=True)
        return "250 Message accepted for delivery"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m infra.local.smtp_catcher", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=2525)
    p.add_argument("--dir", type=Path, default=Path(".data/mail"), help="where .eml files go")
    return p.parse_args(argv)


def check_bindable(host: str, port: int) -> None:
    """Fail at once on a busy port (aiosmtpd's controller would only time out)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))


async def serve(host: str, port: int, directory: Path) -> None:
    check_bindable(host, port)
    controller = Controller(
        MailDirHandler(directory),
        hostname=host,
        port=port,
        decode_data=False,
        data_size_limit=25 * 1024 * 1024,
        ready_timeout=10,
    )
    controller.start()
    print(json.dumps({"event": "listening", "host": host, "port": port, "dir": str(directory)}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        controller.stop()
        print(json.dumps({"event": "stopped"}), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        asyncio.run(serve(args.host, args.port, args.dir))
    except OSError as exc:
        print(f"smtp_catcher: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
