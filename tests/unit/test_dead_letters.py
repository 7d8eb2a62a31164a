"""The dead-letter mappings of both transports (shared/adapters/dead_letters.py) and the CLI's lines.

Service Bus messages are real SDK objects (`ServiceBusReceivedMessage.from_bytes` of an AMQP
message encoded with the SDK's own encoder), carrying what the broker puts on a dead letter.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json

import pytest
from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus._pyamqp._encode import encode_payload
from azure.servicebus._pyamqp.message import Header, Message, Properties
from azure.servicebus._pyamqp.types import TYPE, VALUE, AMQPTypes

from ops.dlq import PREVIEW_CHARS, list_line, replay_line
from shared.adapters.azure_credentials import ServiceBusEndpoint, StorageEndpoint
from shared.adapters.dead_letters import (
    ServiceBusDeadLetters,
    StorageDeadLetters,
    dead_letter_of_poison,
    dead_letter_of_service_bus,
    decode_text,
    encode_body,
    replay_message_of,
)
from shared.errors import Unavailable
from shared.notifications.models import PoisonNote

WHEN = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC)
BODY = '{"message_id":"sms-1","schema_version":1,"to":"+15551234567","text":"hi"}'


def dead_lettered(
    body: bytes = BODY.encode(), prior_deliveries: int = 0, **properties: object
) -> ServiceBusReceivedMessage:
    """The 5th attempt's copy (`pbx-attempt` 5), dead-lettered on its first delivery: the AMQP
    header counts the prior deliveries (0)."""
    msg = Message(
        header=Header(delivery_count=prior_deliveries),
        properties=Properties(message_id="sms-1:attempt-5", content_type="application/json", subject="sms"),
        message_annotations={
            b"x-opt-sequence-number": {TYPE: AMQPTypes.long, VALUE: 4242},
            b"x-opt-enqueued-time": {TYPE: AMQPTypes.timestamp, VALUE: int(WHEN.timestamp() * 1000)},
        },
        application_properties={
            "DeadLetterReason": "max-deliveries",
            "DeadLetterErrorDescription": "Unavailable: SMTP server down",
            "pbx-attempt": 5,
            "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
            **properties,
        },
        data=[body],
    )
    out = bytearray()
    encode_payload(out, msg)
    return ServiceBusReceivedMessage.from_bytes(bytes(out))


def test_a_service_bus_dead_letter_maps_the_broker_fields() -> None:
    letter = dead_letter_of_service_bus("sms", dead_lettered())
    assert letter.id == "4242" and letter.queue == "sms"
    assert letter.message_id == "sms-1"  # the body's idempotency key, not the retry copy's id
    assert (letter.reason, letter.description) == ("max-deliveries", "Unavailable: SMTP server down")
    assert letter.delivery_count == 5 and letter.dead_lettered_at == WHEN
    assert letter.body == BODY and not letter.body_truncated


def test_the_delivery_count_is_the_attempt_as_the_consumer_counts_it() -> None:
    # the broker's own backstop: an original (no pbx-attempt) delivered 5 times, 4 before
    backstop = dead_letter_of_service_bus("sms", dead_lettered(prior_deliveries=4, **{"pbx-attempt": 1}))
    assert backstop.delivery_count == 5
    assert dead_letter_of_service_bus("sms", dead_lettered(prior_deliveries=1)).delivery_count == 6


def test_a_service_bus_dead_letter_that_is_not_json_keeps_its_text() -> None:
    letter = dead_letter_of_service_bus("push", dead_lettered(b"\xffnot json"))
    assert letter.message_id == "sms-1:attempt-5" and letter.body == "\ufffdnot json"


def test_the_replayed_clone_is_a_first_attempt_with_a_new_transport_id() -> None:
    clone = replay_message_of(dead_lettered(custom="kept"))
    assert b"".join(clone.body) == BODY.encode()
    assert clone.message_id == "sms-1:replay:4242"
    assert clone.content_type == "application/json" and clone.subject == "sms"
    assert clone.application_properties == {
        "traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01",
        "custom": "kept",
    }


def note(**overrides: object) -> str:
    doc = PoisonNote(
        message_id="email-7",
        queue="email",
        function="email_sink",
        reason="invalid body: to: field required",
        dead_letter_reason="schema-violation",
        dead_letter_error_description="email message breaks email.schema.json v1: $: to is required",
        delivery_count=1,
        poisoned_at=WHEN,
        body='{"message_id":"email-7"}',
    ).model_dump(mode="json")
    doc.update(overrides)
    return base64.b64encode(json.dumps(doc).encode()).decode()


def test_a_poison_note_maps_its_reason_fields() -> None:
    letter = dead_letter_of_poison("email", "qid-1", note(), WHEN + dt.timedelta(seconds=1))
    assert (letter.id, letter.queue, letter.message_id) == ("qid-1", "email", "email-7")
    assert letter.reason == "schema-violation"
    assert letter.description == "email message breaks email.schema.json v1: $: to is required"
    assert letter.delivery_count == 1 and letter.dead_lettered_at == WHEN
    assert letter.body == '{"message_id":"email-7"}'


def test_an_older_note_without_the_code_uses_its_reason_as_the_description() -> None:
    letter = dead_letter_of_poison(
        "email", "qid-2", note(dead_letter_reason=None, dead_letter_error_description=None), None
    )
    assert letter.reason is None and letter.description == "invalid body: to: field required"


def test_a_plain_copy_of_the_original_is_a_max_deliveries_dead_letter() -> None:
    text = '{"message_id":"sms-9","schema_version":1}'
    for content in (base64.b64encode(text.encode()).decode(), text):
        letter = dead_letter_of_poison("sms", "qid-3", content, WHEN)
        assert (letter.message_id, letter.reason, letter.description) == ("sms-9", "max-deliveries", None)
        assert letter.body == text and letter.dead_lettered_at == WHEN
    garbage = dead_letter_of_poison("sms", "qid-4", "%%% not base64 nor json", None)
    assert garbage.message_id is None and garbage.body == "%%% not base64 nor json"


def test_the_replayed_storage_message_is_base64_like_the_bus() -> None:
    assert decode_text(encode_body(BODY)) == BODY
    assert base64.b64decode(encode_body("é")).decode() == "é"


def test_the_cli_lines_are_bounded_and_name_what_was_kept() -> None:
    letter = dead_letter_of_poison("email", "qid-5", note(body="x" * 5000, body_truncated=True), None)
    line = list_line(letter)
    assert len(line["body_preview"]) == PREVIEW_CHARS and line["body_truncated"] is True
    assert line["dead_lettered_at"] == "2026-12-03T09:30:00+00:00"
    assert set(line) == {
        "id",
        "queue",
        "message_id",
        "reason",
        "description",
        "delivery_count",
        "dead_lettered_at",
        "body_preview",
        "body_truncated",
    }
    assert replay_line(letter, True) == {
        "replayed": True,
        "id": "qid-5",
        "queue": "email",
        "message_id": "email-7",
        "reason": "schema-violation",
    }
    assert "truncated" in replay_line(letter, False)["error"]


def test_a_malformed_connection_string_is_unavailable_not_a_crash() -> None:
    for store in (
        StorageDeadLetters(StorageEndpoint(connection_string="garbage")),
        ServiceBusDeadLetters(ServiceBusEndpoint(connection_string="garbage")),
    ):
        with pytest.raises(Unavailable, match="malformed"):
            asyncio.run(store.list("sms", 10))
        with pytest.raises(Unavailable, match="malformed"):
            asyncio.run(store.replay("sms", None))
