"""The Service Bus side without a network: the message mapping (envelope, MessageId, application
properties, scheduled time), the attempt count, and how a queue function settles a message through
the message actions (complete, a scheduled retry copy, abandon, dead-letter with reason and
description). The Azure SDK's settlement client only exists inside Azure's worker, so the message
actions here record the calls; the real namespace is exercised by
tests/integration/test_service_bus_contract.py when SERVICEBUS_CONNECTION is set."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from functions.queue_runtime import Delivery, run_queue_message, service_bus_settler, storage_settler
from functions.wiring import Adapters
from shared.adapters.bus_envelope import envelope
from shared.adapters.service_bus import (
    ATTEMPT_PROPERTY,
    MAX_MESSAGE_ID_CHARS,
    attempt_of,
    retry_message_id,
    to_service_bus_message,
    transport_message_id,
)
from shared.adapters.storage_queue_bus import encode_message
from shared.errors import Rejected, Unavailable
from shared.message_contract import SCHEMA_VERSION
from shared.notifications.models import SMS_QUEUE, SmsMessage
from shared.queue_work import Tally, backoff, settle
from shared.settings import Settings
from shared.tracing import use_traceparent

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def body_of(message: Any) -> dict[str, Any]:
    return json.loads(b"".join(message.body))


def test_message_carries_the_envelope_id_content_type_and_trace() -> None:
    with use_traceparent(TRACEPARENT):
        doc = envelope({"to": "+15551230000", "text": "hi"}, "m-1")
    msg = to_service_bus_message(doc, message_id="m-1")
    assert body_of(msg) == {
        "message_id": "m-1",
        "schema_version": SCHEMA_VERSION,
        "traceparent": TRACEPARENT,
        "to": "+15551230000",
        "text": "hi",
    }
    assert msg.message_id == "m-1" and msg.content_type == "application/json"
    assert msg.application_properties == {"Diagnostic-Id": TRACEPARENT, "traceparent": TRACEPARENT}
    assert msg.scheduled_enqueue_time_utc is None


def test_both_transports_put_the_same_envelope_in_the_body() -> None:
    with use_traceparent(TRACEPARENT):
        storage = json.loads(base64.b64decode(encode_message({"text": "é"}, "m-2")))
        service_bus = body_of(to_service_bus_message(envelope({"text": "é"}, "m-2"), message_id="m-2"))
    assert (
        storage
        == service_bus
        == {
            "message_id": "m-2",
            "schema_version": SCHEMA_VERSION,
            "traceparent": TRACEPARENT,
            "text": "é",
        }
    )


def test_outside_a_trace_there_is_no_traceparent_and_a_body_keeps_its_own_fields() -> None:
    doc = envelope({"message_id": "own", "traceparent": TRACEPARENT, "x": 1}, "m-3")
    assert doc == {"message_id": "own", "schema_version": SCHEMA_VERSION, "traceparent": TRACEPARENT, "x": 1}
    plain = to_service_bus_message(envelope({"x": 1}, "m-4"), message_id="m-4")
    assert "traceparent" not in body_of(plain) and not plain.application_properties


def test_scheduled_retry_copy_has_its_own_message_id_and_the_attempt() -> None:
    doc = envelope({"x": 1}, "m-5")
    msg = to_service_bus_message(doc, message_id=retry_message_id("m-5", 3), scheduled_at=NOW, attempt=3)
    assert msg.message_id == "m-5:attempt-3"
    assert body_of(msg)["message_id"] == "m-5"
    assert msg.scheduled_enqueue_time_utc == NOW
    assert msg.application_properties == {ATTEMPT_PROPERTY: 3}


def test_long_ids_fit_service_bus_and_stay_distinct() -> None:
    long_a, long_b = "a" * 200, "a" * 199 + "b"
    assert transport_message_id("short") == "short"
    ids = {transport_message_id(long_a), transport_message_id(long_b), retry_message_id(long_a, 2)}
    assert len(ids) == 3 and all(len(i) <= MAX_MESSAGE_ID_CHARS for i in ids)
    assert transport_message_id(long_a) == transport_message_id(long_a)


@pytest.mark.parametrize(
    ("properties", "delivery_count", "attempt"),
    [
        (None, None, 1),
        (None, 0, 1),
        ({}, 2, 3),
        ({b"pbx-attempt": 2}, 0, 2),
        ({"pbx-attempt": 4}, 1, 5),
        ({b"pbx-attempt": b"3"}, 0, 3),
        ({b"pbx-attempt": "junk"}, 0, 1),
    ],
)
def test_attempt_counts_copies_and_redeliveries(
    properties: Any, delivery_count: int | None, attempt: int
) -> None:
    """`delivery_count` as the Python SDK gives it: prior deliveries, 0 on the first."""
    assert attempt_of(properties, delivery_count) == attempt


def test_attempt_of_a_message_as_the_sdk_decodes_it() -> None:
    """A received message built from AMQP the way the SDK (and the Functions worker) builds it."""
    from azure.servicebus import ServiceBusReceivedMessage
    from azure.servicebus._pyamqp.message import Header, Message, Properties

    from functions.queue_runtime import _service_bus_body

    amqp = Message(
        data=[b'{"message_id":"m-7"}'],
        application_properties={b"pbx-attempt": 3},
        header=Header(delivery_count=1),
        properties=Properties(message_id=b"m-7:attempt-3"),
    )
    received = ServiceBusReceivedMessage(amqp, receiver=None)
    assert _service_bus_body(received) == b'{"message_id":"m-7"}'
    assert received.message_id == "m-7:attempt-3"
    assert attempt_of(received.application_properties, received.delivery_count) == 4


def test_settle_backs_off_then_dead_letters() -> None:
    assert [backoff(n) for n in range(1, 6)] == [10, 30, 60, 120, 120]
    assert sum(backoff(n) for n in range(1, 5)) > 30  # a 30-second SMTP outage is ridden out
    outage = Unavailable("smtp 127.0.0.1:25: connection refused")
    assert [type(settle(outage, n)).__name__ for n in range(1, 6)] == ["Retry"] * 4 + ["DeadLetter"]
    assert settle(outage, 2) == type(settle(outage, 2))(after=30, attempt=2)
    last = settle(outage, 5)
    assert (last.reason, last.description) == (
        "max-deliveries",
        "Unavailable: smtp 127.0.0.1:25: connection refused",
    )  # type: ignore[union-attr]
    refused = settle(Rejected("550 no such user"), 1)
    assert (refused.reason, refused.description) == ("rejected", "Rejected: 550 no such user")  # type: ignore[union-attr]


# --- settlement through the message actions


@dataclass
class Actions:
    """Records the settlement calls a ServiceBusMessageActions would make."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def complete(self, message: Any) -> None:
        self.calls.append(("complete", message))

    def abandon(self, message: Any) -> None:
        self.calls.append(("abandon", message))

    def deadletter(
        self,
        message: Any,
        deadletter_reason: str | None = None,
        deadletter_error_description: str | None = None,
    ) -> None:
        self.calls.append(("deadletter", message, deadletter_reason, deadletter_error_description))


@dataclass
class Bus:
    """A bus that records sends and scheduled copies (or fails them)."""

    fail: bool = False
    sent: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    later: list[tuple[str, dict[str, Any], str, int, dt.datetime]] = field(default_factory=list)

    async def send(self, queue: str, body: dict[str, Any], message_id: str) -> None:
        self.sent.append((queue, body, message_id))

    async def send_later(
        self, queue: str, doc: dict[str, Any], *, message_id: str, attempt: int, at: dt.datetime
    ) -> None:
        if self.fail:
            raise Unavailable("service bus down")
        self.later.append((queue, doc, message_id, attempt, at))

    async def aclose(self) -> None:
        return None


class Clock:
    def now(self) -> dt.datetime:
        return NOW


def sms(**extra: Any) -> bytes:
    doc = {"message_id": "s-1", "schema_version": 1, "to": "+15551230000", "text": "hi", **extra}
    return json.dumps(doc).encode()


@dataclass
class Run:
    actions: Actions
    bus: Bus
    seen: list[Delivery]
    raised: BaseException | None


def handled(
    raw: bytes,
    attempt: int,
    outcome: BaseException | None,
    bus: Bus | None = None,
    transport: str = "servicebus",
) -> Run:
    """Run one message through `run_queue_message` with the given transport's settler."""
    run = Run(Actions(), bus or Bus(), [], None)

    async def handle(body: SmsMessage, r: Adapters, d: Delivery) -> Tally:
        run.seen.append(d)
        if outcome is not None:
            raise outcome
        return Tally().ok("sent")

    async def go() -> None:
        r = Adapters(Settings(pbx_environment="local"), bus=run.bus, clock=Clock())  # type: ignore[arg-type]
        settler = (
            service_bus_settler(r, SMS_QUEUE, "MSG", run.actions)
            if transport == "servicebus"
            else storage_settler(r, "sms_sender", SMS_QUEUE, attempt)
        )
        try:
            await run_queue_message(
                function="sms_sender",
                queue=SMS_QUEUE,
                raw=raw,
                transport_id="sb-1",
                attempt=attempt,
                model=SmsMessage,
                handle=handle,
                resources=r,
                settler=settler,
            )
        except Exception as exc:
            run.raised = exc

    asyncio.run(go())
    return run


def test_success_completes() -> None:
    run = handled(sms(), 1, None)
    assert run.actions.calls == [("complete", "MSG")] and not run.bus.later and run.raised is None
    assert run.seen == [Delivery("s-1", "sb-1", 1)]


def test_transient_failure_schedules_a_copy_after_the_backoff_then_completes() -> None:
    run = handled(sms(traceparent=TRACEPARENT), 2, Unavailable("provider down"))
    assert run.actions.calls == [("complete", "MSG")] and run.raised is None
    [(queue, doc, mid, attempt, at)] = run.bus.later
    assert (queue, mid, attempt, at) == ("sms", "s-1", 3, NOW + dt.timedelta(seconds=30))
    assert doc["message_id"] == "s-1" and doc["traceparent"] == TRACEPARENT


def test_a_retry_copy_that_cannot_be_sent_abandons_the_message() -> None:
    run = handled(sms(), 1, Unavailable("provider down"), Bus(fail=True))
    assert run.actions.calls == [("abandon", "MSG")]
    assert isinstance(run.raised, Unavailable)  # the invocation fails; the broker redelivers


@pytest.mark.parametrize(
    ("raw", "attempt", "error", "reason", "description"),
    [
        (sms(), 5, Unavailable("provider down"), "max-deliveries", "Unavailable: provider down"),
        (sms(), 1, Rejected("number barred"), "rejected", "Rejected: number barred"),
        (sms(to="555-1234"), 1, None, "schema-violation", '$.to: "555-1234" does not match'),
        (
            json.dumps({"message_id": "s-1", "to": "+15551230000", "text": "x"}).encode(),
            1,
            None,
            "schema-violation",
            '"schema_version" is a required property',
        ),
        (b"not json", 1, None, "undecodable", "invalid body: not JSON"),
        (b"[1, 2]", 1, None, "undecodable", "invalid body: a JSON list, not an object"),
    ],
)
def test_dead_letters_carry_reason_and_description(
    raw: bytes, attempt: int, error: BaseException | None, reason: str, description: str
) -> None:
    run = handled(raw, attempt, error)
    [(call, message, got_reason, got_description)] = run.actions.calls
    assert (call, message, got_reason) == ("deadletter", "MSG", reason)
    assert description in got_description, got_description
    assert not run.bus.later and run.raised is None
    if error is None:
        assert run.seen == []  # a malformed message never reaches the handler


def test_storage_dead_letter_is_a_poison_note_with_the_same_fields() -> None:
    run = handled(sms(to="555-1234"), 1, None, transport="storage")
    [(queue, note, mid)] = run.bus.sent
    assert queue == "sms-poison" and mid == "s-1:poison" and run.raised is None
    assert note["dead_letter_reason"] == "schema-violation"
    assert '$.to: "555-1234" does not match' in note["dead_letter_error_description"]
    assert note["reason"] == note["dead_letter_error_description"] and note["delivery_count"] == 1


def test_storage_retry_raises_for_the_host() -> None:
    run = handled(sms(), 2, Unavailable("provider down"), transport="storage")
    assert isinstance(run.raised, Unavailable) and not run.bus.sent


def test_an_unreachable_namespace_is_unavailable() -> None:
    """A real AMQP connection attempt to a closed local port fails fast as `Unavailable`."""
    from infra.local.configdb_cluster import free_port
    from shared.adapters.service_bus import ServiceBusBus

    async def go() -> None:
        endpoint = f"Endpoint=sb://127.0.0.1:{free_port()}/;SharedAccessKeyName=send;SharedAccessKey=a2V5"
        bus = ServiceBusBus(connection_string=endpoint, retry_total=0, send_timeout=5)
        try:
            await bus.send(SMS_QUEUE, {"text": "x"}, "m-1")
        finally:
            await bus.aclose()

    with pytest.raises(Unavailable, match="service bus queue sms"):
        asyncio.run(go())


def test_a_bus_needs_a_connection_string_or_a_namespace() -> None:
    from shared.adapters.service_bus import ServiceBusBus

    with pytest.raises(ValueError, match="connection string or a namespace"):
        ServiceBusBus()
