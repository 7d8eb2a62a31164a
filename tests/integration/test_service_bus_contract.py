"""The Service Bus adapter against a real namespace. Runs only when `SERVICEBUS_CONNECTION` (a
connection string with Send, Listen and Manage rights) is set; skipped otherwise, as the MongoDB
contract tests are without `MONGODB_URI`. Nothing here can reach Azure, so these run wherever the
credentials are given.

The queue is `SERVICEBUS_QUEUE` (default `pbx-contract-tests`), created when missing. Each test
uses its own message ids and ignores other messages. Checked: a send (JSON body with the envelope,
MessageId, content type, traceparent properties) is received as sent; a scheduled copy is not
delivered before its time and carries its attempt; an abandoned message comes back as the next
attempt; a message dead-lettered with a reason and
description (what the functions' message actions do) shows both in the dead-letter queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from shared.adapters.service_bus import ServiceBusBus, attempt_of
from shared.errors import Unavailable
from shared.tracing import use_traceparent

CONNECTION = os.environ.get("SERVICEBUS_CONNECTION", "")
QUEUE = os.environ.get("SERVICEBUS_QUEUE", "pbx-contract-tests")
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

pytestmark = [
    pytest.mark.skipif(not CONNECTION, reason="SERVICEBUS_CONNECTION is not set: no Service Bus namespace"),
    pytest.mark.timeout(120),
]


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    from azure.core.exceptions import ResourceExistsError
    from azure.servicebus import ServiceBusClient
    from azure.servicebus.management import ServiceBusAdministrationClient

    with (
        ServiceBusAdministrationClient.from_connection_string(CONNECTION) as admin,
        contextlib.suppress(ResourceExistsError),
    ):
        admin.create_queue(QUEUE, max_delivery_count=5, dead_lettering_on_message_expiration=True)
    with ServiceBusClient.from_connection_string(CONNECTION) as sb:
        yield sb


def send(bus_call: Any) -> None:
    async def go() -> None:
        bus = ServiceBusBus(connection_string=CONNECTION)
        try:
            await bus_call(bus)
        finally:
            await bus.aclose()

    asyncio.run(go())


def receive(client: Any, message_id: str, settle: str, timeout: float = 30.0, **options: Any) -> Any:
    """Receive (peek-lock) until the message with this MessageId arrives and settle it with the
    receiver's `settle` method (`complete_message`, `dead_letter_message`); others are abandoned.
    `options` go to that method."""
    deadline = time.monotonic() + timeout
    sub_queue = options.pop("sub_queue", None)
    with client.get_queue_receiver(QUEUE, sub_queue=sub_queue, max_wait_time=2) as receiver:
        while time.monotonic() < deadline:
            for msg in receiver.receive_messages(max_message_count=10, max_wait_time=2):
                if msg.message_id == message_id:
                    getattr(receiver, settle)(msg, **options)
                    return msg
                receiver.abandon_message(msg)
    raise AssertionError(f"message {message_id} not received within {timeout} s")


def body(msg: Any) -> dict[str, Any]:
    raw = msg.body
    return json.loads(raw if isinstance(raw, bytes) else b"".join(raw))


def test_send_is_received_with_the_envelope_and_properties(client: Any) -> None:
    mid = f"contract-{uuid.uuid4().hex}"

    async def go(bus: ServiceBusBus) -> None:
        with use_traceparent(TRACEPARENT):
            await bus.send(QUEUE, {"to": "+15551230000", "text": "hi"}, mid)

    send(go)
    msg = receive(client, mid, "complete_message")
    assert body(msg) == {
        "message_id": mid,
        "schema_version": 1,
        "traceparent": TRACEPARENT,
        "to": "+15551230000",
        "text": "hi",
    }
    assert msg.content_type == "application/json"
    props = {
        (k.decode() if isinstance(k, bytes) else k): v for k, v in (msg.application_properties or {}).items()
    }
    assert props["traceparent"] == TRACEPARENT and props["Diagnostic-Id"] == TRACEPARENT
    assert attempt_of(msg.application_properties, msg.delivery_count) == 1


def test_an_abandoned_message_comes_back_as_the_next_attempt(client: Any) -> None:
    """The broker's redelivery count, as the SDK reports it, adds to the attempt."""
    mid = f"contract-{uuid.uuid4().hex}"

    async def go(bus: ServiceBusBus) -> None:
        await bus.send(QUEUE, {"text": "again"}, mid)

    send(go)
    first = receive(client, mid, "abandon_message")
    second = receive(client, mid, "complete_message")
    assert attempt_of(first.application_properties, first.delivery_count) == 1
    assert attempt_of(second.application_properties, second.delivery_count) == 2


def test_scheduled_copy_waits_and_carries_its_attempt(client: Any) -> None:
    mid = f"contract-{uuid.uuid4().hex}"
    at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=8)
    doc = {"message_id": mid, "schema_version": 1, "text": "again"}

    async def go(bus: ServiceBusBus) -> None:
        await bus.send_later(QUEUE, doc, message_id=mid, attempt=2, at=at)

    send(go)
    msg = receive(client, f"{mid}:attempt-2", "complete_message", timeout=40)
    assert dt.datetime.now(dt.UTC) >= at - dt.timedelta(seconds=1)
    assert msg.enqueued_time_utc >= at - dt.timedelta(seconds=2)
    assert body(msg) == doc
    assert attempt_of(msg.application_properties, msg.delivery_count) == 2


def test_dead_letter_keeps_reason_and_description(client: Any) -> None:
    from azure.servicebus import ServiceBusSubQueue

    mid = f"contract-{uuid.uuid4().hex}"

    async def go(bus: ServiceBusBus) -> None:
        await bus.send(QUEUE, {"to": "555-1234", "text": "x"}, mid)

    send(go)
    receive(
        client,
        mid,
        "dead_letter_message",
        reason="schema-violation",
        error_description='$.to: "555-1234" does not match',
    )
    dead = receive(client, mid, "complete_message", sub_queue=ServiceBusSubQueue.DEAD_LETTER)
    assert dead.dead_letter_reason == "schema-violation"
    assert dead.dead_letter_error_description == '$.to: "555-1234" does not match'
    assert body(dead)["message_id"] == mid


def test_a_wrong_key_is_unavailable() -> None:
    parts = dict(p.split("=", 1) for p in CONNECTION.strip(";").split(";") if "=" in p)
    key_name = parts.get("SharedAccessKeyName", "x")
    wrong = f"Endpoint={parts['Endpoint']};SharedAccessKeyName={key_name};SharedAccessKey=d3Jvbmc="

    async def go() -> None:
        bus = ServiceBusBus(connection_string=wrong, retry_total=0, send_timeout=20)
        try:
            await bus.send(QUEUE, {"text": "x"}, f"contract-{uuid.uuid4().hex}")
        finally:
            await bus.aclose()

    with pytest.raises(Unavailable):
        asyncio.run(go())
