"""Local SMS and push "providers": they record what would have been sent, as JSON lines.

- `RecordingSmsSender(dir)` appends `{"ts", "message_id", "to", "text"}` to `dir/messages.jsonl`.
- `RecordingPushSender(dir)` appends `{"ts", "message_id", "platform", "token", "payload"}` to
  `dir/messages.jsonl`. A token starting with `dead-` is treated the way APNs treats an
  unregistered token (410) and FCM an unregistered one (404 UNREGISTERED): nothing is recorded
  and "dead_token" is returned.

Both keep the idempotency key a real provider would: a message id already in the file is not
written again (a redelivered queue message sends once). Writers in several processes are
serialised with an exclusive `flock` on the file. These are the only SMS and push adapters so
far, wherever the functions run: nothing reaches a phone. A real SMS provider or APNs/FCM
adapter would implement the same ports (`shared.notifications.ports.SmsSender`, `PushSender`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import json
from pathlib import Path
from typing import Any

from shared.errors import Unavailable
from shared.values import format_utc

MESSAGES_FILE = "messages.jsonl"
DEAD_TOKEN_PREFIX = "dead-"


class JsonLinesRecord:
    """An append-only JSON-lines file, deduplicated by `message_id`."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / MESSAGES_FILE

    def _append_once(self, doc: dict[str, Any]) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                f.seek(0)
                for line in f:
                    try:
                        if json.loads(line).get("message_id") == doc["message_id"]:
                            return False
                    except ValueError:
                        continue
                f.seek(0, 2)
                f.write(json.dumps(doc, separators=(",", ":")) + "\n")
                f.flush()
                return True
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    async def append_once(self, doc: dict[str, Any]) -> bool:
        """True if written, False if this message id was recorded before."""
        try:
            return await asyncio.to_thread(self._append_once, doc)
        except OSError as exc:
            raise Unavailable(f"{self.path}: {exc}") from exc

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]


def _now() -> str:
    return format_utc(dt.datetime.now(dt.UTC))


class RecordingSmsSender:
    def __init__(self, directory: Path) -> None:
        self.record = JsonLinesRecord(directory)

    async def send(self, to: str, text: str, message_id: str) -> None:
        await self.record.append_once({"ts": _now(), "message_id": message_id, "to": to, "text": text})


class RecordingPushSender:
    def __init__(self, directory: Path) -> None:
        self.record = JsonLinesRecord(directory)

    async def send(self, platform: str, token: str, payload: dict[str, Any], message_id: str) -> str:
        if token.startswith(DEAD_TOKEN_PREFIX):
            return "dead_token"
        await self.record.append_once(
            {"ts": _now(), "message_id": message_id, "platform": platform, "token": token, "payload": payload}
        )
        return "sent"
