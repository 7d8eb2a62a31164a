"""The envelope every queue message carries, added by the bus adapters on send (one place).

`message_id` (the idempotency key) and `schema_version` (`shared.message_contract`) always;
`traceparent`, the W3C trace context current at the send (`shared.tracing`), when there is one.
A body that already holds one of them keeps its own value (a retry copy, a replayed message).
"""

from __future__ import annotations

import json
from typing import Any

from shared.message_contract import SCHEMA_VERSION
from shared.tracing import current_traceparent


def envelope(body: dict[str, Any], message_id: str) -> dict[str, Any]:
    """`body` with the envelope fields it lacks."""
    doc: dict[str, Any] = {"message_id": message_id, "schema_version": SCHEMA_VERSION}
    traceparent = current_traceparent()
    if traceparent:
        doc["traceparent"] = traceparent
    doc.update(body)
    return doc


def to_json(doc: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the body format of both transports."""
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
