"""Contract test of `ServiceBusDeadLetters` against a real Service Bus namespace.

Runs only when `SERVICEBUS_CONNECTION` (a connection string with Send and Listen rights) is set,
like the MongoDB tests with `MONGODB_URI`; nothing here can reach Azure otherwise. The queue is
`SERVICEBUS_TEST_QUEUE` (default `sms`, as `azd up` creates it): the test dead-letters one
message of its own with a reason and a description, lists it, replays it by id, and takes the
replayed copy off the queue again.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest

from shared.adapters.azure_credentials import ServiceBusEndpoint
from shared.adapters.dead_letters import ServiceBusDeadLetters

CONNECTION = os.environ.get("SERVICEBUS_CONNECTION", "")
QUEUE = os.environ.get("SERVICEBUS_TEST_QUEUE", "sms")

pytestmark = pytest.mark.skipif(not CONNECTION, reason="SERVICEBUS_CONNECTION is not set: no Service Bus")


def test_list_and_replay_a_service_bus_dead_letter() -> None:
    from azure.servicebus import ServiceBusClient, ServiceBusMessage

    mid = f"dlq-contract-{uuid.uuid4().hex}"
    body = json.dumps({"message_id": mid, "schema_version": 1, "to": "+15551234567", "text": "contract"})
    with ServiceBusClient.from_connection_string(CONNECTION) as client:
        with client.get_queue_sender(QUEUE) as sender:
            sender.send_messages(ServiceBusMessage(body, message_id=mid, content_type="application/json"))
        with client.get_queue_receiver(QUEUE, max_wait_time=10) as receiver:
            for msg in receiver.receive_messages(max_message_count=50, max_wait_time=10):
                if msg.message_id == mid:
                    receiver.dead_letter_message(msg, reason="schema-violation", error_description="contract")
                else:
                    receiver.abandon_message(msg)

    store = ServiceBusDeadLetters(ServiceBusEndpoint(connection_string=CONNECTION))
    letters, _ = asyncio.run(store.list(QUEUE, 1000))
    mine = [d for d in letters if d.message_id == mid]
    assert len(mine) == 1, [d.message_id for d in letters]
    letter = mine[0]
    assert (letter.reason, letter.description) == ("schema-violation", "contract")
    assert letter.body == body and letter.delivery_count is not None

    replayed, kept = asyncio.run(store.replay(QUEUE, letter.id))
    assert [d.id for d in replayed] == [letter.id] and kept == []
    assert asyncio.run(store.replay(QUEUE, letter.id)) == ([], [])
    letters, _ = asyncio.run(store.list(QUEUE, 1000))
    assert mid not in {d.message_id for d in letters}

    with (
        ServiceBusClient.from_connection_string(CONNECTION) as client,
        client.get_queue_receiver(QUEUE, max_wait_time=10) as receiver,
    ):
        back = None
        for msg in receiver.receive_messages(max_message_count=50, max_wait_time=10):
            if msg.message_id == f"{mid}:replay:{letter.id}":
                back = msg
                receiver.complete_message(msg)
            else:
                receiver.abandon_message(msg)
    assert back is not None and b"".join(back.body).decode() == body
