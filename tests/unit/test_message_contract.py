"""The queue message contract: the committed JSON Schemas match the pydantic models, the models
accept the envelope, and `check_message` rejects what breaks a schema with a readable reason."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared.errors import Rejected
from shared.message_contract import (
    QUEUES,
    SCHEMA_DIR,
    SCHEMA_VERSION,
    SchemaViolation,
    _models,
    build_schema,
    check_message,
    drift,
    main,
    render,
)
from shared.queue_work import decide

TRACE = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
ENVELOPE = {"message_id": "m-1", "schema_version": SCHEMA_VERSION, "traceparent": TRACE}

VALID: dict[str, dict[str, Any]] = {
    "email": {
        "to": "owner@example.com",
        "subject": "New voicemail",
        "text": "You have a new voicemail.",
        "attachments": [
            {"filename": "vm.wav", "content_type": "audio/wav", "blob": "voicemail/t1/u1/v1.wav"},
            {"filename": "note.txt", "content_b64": "aGVsbG8="},
        ],
    },
    "sms": {"to": "+15551234567", "text": "Missed call from +15557654321", "tenant_id": "t1"},
    "push": {"type": "missed_call", "tenant_id": "t1", "user_id": "u1", "caller": "+15557654321"},
    "call-ended": {"tenant_id": "t1", "call_id": "c-42"},
    "reports": {"tenant_id": "t1", "month": "2026-05"},
}


def test_every_queue_has_a_committed_schema_that_matches_its_model() -> None:
    assert set(QUEUES) == set(_models())
    assert drift() == [], "run: python -m shared.message_contract --write"
    assert main(["--check"]) == 0
    for queue in QUEUES:
        schema = json.loads((SCHEMA_DIR / f"{queue}.schema.json").read_text())
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"].endswith(f"/{queue}.schema.json")
        assert schema["version"] == SCHEMA_VERSION and schema["title"] and schema["description"]
        assert schema["required"][:2] == ["message_id", "schema_version"]
        assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_drift_is_detected(tmp_path: Path) -> None:
    for queue in QUEUES:
        (tmp_path / f"{queue}.schema.json").write_text(render(queue))
    assert drift(tmp_path) == []
    stale = json.loads(render("sms"))
    del stale["properties"]["text"]
    (tmp_path / "sms.schema.json").write_text(json.dumps(stale, indent=2) + "\n")
    (tmp_path / "push.schema.json").unlink()
    assert drift(tmp_path) == ["sms", "push"]


@pytest.mark.parametrize("queue", QUEUES)
def test_a_valid_message_passes_and_the_model_accepts_the_envelope(queue: str) -> None:
    doc = {**ENVELOPE, **VALID[queue]}
    check_message(queue, doc)
    body = _models()[queue].model_validate(doc)
    assert body.message_id == "m-1"  # type: ignore[attr-defined]


@pytest.mark.parametrize("queue", QUEUES)
def test_the_envelope_is_required(queue: str) -> None:
    for field in ("message_id", "schema_version"):
        doc = {k: v for k, v in {**ENVELOPE, **VALID[queue]}.items() if k != field}
        with pytest.raises(SchemaViolation, match=f'"{field}" is a required property'):
            check_message(queue, doc)
    check_message(queue, {k: v for k, v in {**ENVELOPE, **VALID[queue]}.items() if k != "traceparent"})
    with pytest.raises(SchemaViolation, match=r"\$\.traceparent: "):
        check_message(queue, {**ENVELOPE, **VALID[queue], "traceparent": "01-abc"})


def test_an_unknown_schema_version_is_a_violation_naming_the_supported_ones() -> None:
    with pytest.raises(SchemaViolation) as got:
        check_message("sms", {**ENVELOPE, **VALID["sms"], "schema_version": 2})
    assert str(got.value) == "schema_version 2 is not supported by this consumer; supported: 1"


def test_the_reason_names_the_first_errors_with_their_json_paths() -> None:
    doc = {**ENVELOPE, "to": "5551234", "text": "", "tenant_id": "x" * 65}
    with pytest.raises(SchemaViolation) as got:
        check_message("sms", doc)
    text = str(got.value)
    assert text.startswith("sms message breaks sms.schema.json v1: ")
    assert '$.to: "5551234" does not match' in text
    assert '$.text: "" is shorter than 1 character' in text
    assert "$.tenant_id" in text


def test_attachments_need_exactly_one_source_like_the_model() -> None:
    base = {**ENVELOPE, **VALID["email"]}
    for attachment in ({"filename": "a.txt"}, {"filename": "a.txt", "blob": "vm/a/b", "content_b64": "QQ=="}):
        with pytest.raises(SchemaViolation, match=r"\$\.attachments\[0\]"):
            check_message("email", {**base, "attachments": [attachment]})
    check_message(
        "email", {**base, "attachments": [{"filename": "a.txt", "content_b64": "QQ==", "blob": None}]}
    )


def test_not_an_object_and_an_unknown_queue_are_violations() -> None:
    with pytest.raises(SchemaViolation, match=r'\$: "hello" is not of type "object"'):
        check_message("push", "hello")
    with pytest.raises(SchemaViolation, match="has no schema"):
        check_message("fax", {})


def test_a_violation_is_permanent_and_bounded() -> None:
    with pytest.raises(SchemaViolation) as got:
        check_message("email", {**ENVELOPE, **VALID["email"], "subject": "", "to": "x" * 5000})
    assert isinstance(got.value, Rejected) and decide(got.value, 1) == "poison"
    assert len(str(got.value)) <= 500


def test_unknown_fields_are_allowed_so_additive_changes_keep_the_version() -> None:
    check_message("call-ended", {**ENVELOPE, **VALID["call-ended"], "duration_s": 12})
    assert "additionalProperties" not in build_schema("call-ended")


def test_every_example_of_docs_queues_md_is_valid() -> None:
    text = (SCHEMA_DIR.parent / "queues.md").read_text()
    examples = re.findall(r"### `([a-z-]+)`\n\n```json\n(.*?)\n```", text, re.S)
    assert sorted(q for q, _ in examples) == sorted(QUEUES)
    for queue, doc in examples:
        check_message(queue, json.loads(doc))
        _models()[queue].model_validate_json(doc)
