"""Structured logs: one JSON object per line on stderr, for every long-lived process.

A record's message becomes the `event` field; a message that is itself a JSON object is merged
(so `log.info(json.dumps({"event": ..., "call_id": ...}))` works), and so are fields passed
through `extra=` (`log.info("leg ended", extra={"event": "sip_leg_ended", "leg_id": ...})`).
Lines written while a request is served carry its `trace_id` (set by the API's `RequestIds`).
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

trace_id: ContextVar[str | None] = ContextVar("trace_id", default=None)
"""The id of the request or job being served; every log line written meanwhile carries it."""

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, static: dict[str, str] | None = None) -> None:
        super().__init__()
        self.static = static or {}

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            **self.static,
        }
        parsed: Any = None
        if message.startswith("{"):
            try:
                parsed = orjson.loads(message)
            except orjson.JSONDecodeError:
                parsed = None
        if isinstance(parsed, dict):
            doc.update(parsed)
        else:
            doc["event"] = message
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                if key == "event" and "event" in doc and doc["event"] != value:
                    doc["message"] = doc["event"]
                doc[key] = value
        current = trace_id.get()
        if current is not None and "trace_id" not in doc:
            doc["trace_id"] = current
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def configure_logging(level: int = logging.INFO, **static: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(static))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The Azure SDK logs every HTTP request and response at INFO: noise, and slow on hot paths.
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
