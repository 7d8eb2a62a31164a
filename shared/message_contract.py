"""The queue messages as a contract: one JSON Schema (draft 2020-12) per queue in `docs/schemas/`.

Each schema is the queue's pydantic body model (`shared.notifications.models`,
`shared.billing.models`) plus the envelope every message carries:

- `message_id` (required string, 1 to 200 characters): the idempotency key;
- `schema_version` (required integer, `SCHEMA_VERSION`): the version of the body's schema;
- `traceparent` (optional string): the W3C trace context, `00-<32 hex>-<16 hex>-<2 hex>`.

`check_message(queue, doc)` validates one decoded body against its queue's schema (loaded from
`docs/schemas/` once) and raises `SchemaViolation` (a permanent `Rejected`: the message is
dead-lettered with the reason) naming the first errors and their JSON paths. A `schema_version`
this consumer does not know is a violation too.

The schemas are generated from the models, and a unit test fails when the committed files drift:

    python -m shared.message_contract --write    # rewrite docs/schemas/*.schema.json
    python -m shared.message_contract --check    # exit 1 when they differ from the models

The contract for outside producers (purpose, consumer, examples, retries, versioning) is
`docs/queues.md`.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema_rs

from shared.errors import Rejected

SCHEMA_VERSION = 1
SUPPORTED_VERSIONS: frozenset[int] = frozenset({SCHEMA_VERSION})
QUEUES: tuple[str, ...] = ("email", "sms", "push", "call-ended", "reports")
SCHEMA_DIR = Path(__file__).resolve().parents[1] / "docs" / "schemas"
SCHEMA_ID = "https://schemas.cloudpbx.example/queues/{queue}.schema.json"
TRACEPARENT_PATTERN = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
MAX_ERRORS = 3
MAX_MESSAGE_CHARS = 500

ENVELOPE_PROPERTIES: dict[str, dict[str, Any]] = {
    "message_id": {
        "type": "string",
        "minLength": 1,
        "maxLength": 200,
        "description": "Idempotency key: a consumer handles each message_id once.",
    },
    "schema_version": {
        "type": "integer",
        "const": SCHEMA_VERSION,
        "description": "Version of this schema the body follows.",
    },
    "traceparent": {
        "type": "string",
        "pattern": TRACEPARENT_PATTERN,
        "description": "W3C trace context of the work that sent the message.",
    },
}
ENVELOPE_REQUIRED = ("message_id", "schema_version")

_DESCRIPTIONS = {
    "email": "One email to send by SMTP (consumer: the email_sink function).",
    "sms": "One SMS to send through the SMS provider (consumer: the sms_sender function).",
    "push": "One push notification to a user's devices (consumer: the push_sender function).",
    "call-ended": "A call ended and its record is in the History DB (consumer: the call_ended function).",
    "reports": "Build a tenant's monthly usage report and email its link (consumer: the report_request "
    "function).",
}


class SchemaViolation(Rejected):
    """A queue message that breaks its queue's schema: retrying cannot heal it."""

    error_id = "schema-violation"
    title = "Message breaks its queue's schema"


@functools.cache
def _validator(queue: str) -> Any:
    schema = json.loads((SCHEMA_DIR / f"{queue}.schema.json").read_text(encoding="utf-8"))
    return jsonschema_rs.Draft202012Validator(schema)


def _path(parts: Sequence[object]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_message(queue: str, doc: object) -> None:
    """Raise `SchemaViolation` when `doc` (a decoded message body) breaks `queue`'s schema."""
    if queue not in QUEUES:
        raise SchemaViolation(f"queue {queue!r} has no schema; known: {', '.join(QUEUES)}")
    if isinstance(doc, dict):
        version = doc.get("schema_version")
        if isinstance(version, int) and not isinstance(version, bool) and version not in SUPPORTED_VERSIONS:
            supported = ", ".join(str(v) for v in sorted(SUPPORTED_VERSIONS))
            raise SchemaViolation(
                f"schema_version {version} is not supported by this consumer; supported: {supported}"
            )
    errors = list(_validator(queue).iter_errors(doc))
    if not errors:
        return
    parts = [_short(f"{_path(e.instance_path)}: {e.message}") for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        parts.append(f"and {len(errors) - MAX_ERRORS} more")
    text = f"{queue} message breaks {queue}.schema.json v{SCHEMA_VERSION}: " + "; ".join(parts)
    raise SchemaViolation(text[:MAX_MESSAGE_CHARS])


# --- generation (python -m shared.message_contract --write) ---


def _models() -> dict[str, Any]:
    from shared.billing.models import REPORTS_QUEUE, ReportRequest
    from shared.notifications.models import (
        CALL_ENDED_QUEUE,
        EMAIL_QUEUE,
        PUSH_QUEUE,
        SMS_QUEUE,
        CallEndedMessage,
        OutgoingEmail,
        PushMessage,
        SmsMessage,
    )

    return {
        EMAIL_QUEUE: OutgoingEmail,
        SMS_QUEUE: SmsMessage,
        PUSH_QUEUE: PushMessage,
        CALL_ENDED_QUEUE: CallEndedMessage,
        REPORTS_QUEUE: ReportRequest,
    }


def build_schema(queue: str) -> dict[str, Any]:
    """The schema of `queue`: its body model's JSON Schema with the envelope fields on top."""
    model = _models()[queue]
    body = model.model_json_schema(mode="validation")
    fields = {k: v for k, v in body.pop("properties", {}).items() if k not in ENVELOPE_PROPERTIES}
    properties = {**ENVELOPE_PROPERTIES, **fields}
    required = list(ENVELOPE_REQUIRED) + [r for r in body.pop("required", []) if r not in ENVELOPE_REQUIRED]
    body.pop("title", None)
    body.pop("description", None)
    schema: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID.format(queue=queue),
        "title": f"{queue} queue message",
        "description": _DESCRIPTIONS[queue],
        "version": SCHEMA_VERSION,
        "x-body-model": f"{model.__module__}.{model.__qualname__}",
        "type": "object",
        "properties": properties,
        "required": required,
    }
    schema.update(body)
    return schema


def render(queue: str) -> str:
    return json.dumps(build_schema(queue), indent=2, ensure_ascii=False) + "\n"


def drift(directory: Path = SCHEMA_DIR) -> list[str]:
    """The queues whose committed schema file differs from the models (or is missing)."""
    stale = []
    for queue in QUEUES:
        path = directory / f"{queue}.schema.json"
        if not path.exists() or path.read_text(encoding="utf-8") != render(queue):
            stale.append(queue)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m shared.message_contract", description="Generate or check docs/schemas/."
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite docs/schemas/*.schema.json")
    mode.add_argument("--check", action="store_true", help="exit 1 when a schema differs from its model")
    args = p.parse_args(argv)
    if args.write:
        SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
        for queue in QUEUES:
            (SCHEMA_DIR / f"{queue}.schema.json").write_text(render(queue), encoding="utf-8")
            print(f"wrote docs/schemas/{queue}.schema.json")
        return 0
    stale = drift()
    for queue in stale:
        print(f"docs/schemas/{queue}.schema.json is stale: run python -m shared.message_contract --write")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
