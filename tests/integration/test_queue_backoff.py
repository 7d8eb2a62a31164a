"""A queue function on the Storage transport, run by the local host's queue runner against a real
Azurite: a transient failure is retried after the backoff (10 s before the 2nd attempt) and then
succeeds; a permanent refusal and a message that breaks its queue's schema are dead-lettered at
once, as PoisonNotes on `<queue>-poison` carrying the reason code and the description."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueServiceClient

from functions.devhost.bindings import FunctionSpec, discover
from functions.devhost.invoker import EventLog, Invoker
from functions.devhost.queues import QueueOptions, QueueRunner
from functions.queue_runtime import Delivery, queue_function
from functions.wiring import Adapters
from shared.adapters.storage_queue_bus import StorageQueueBus
from shared.errors import Rejected, Unavailable
from shared.notifications.models import SMS_QUEUE, SmsMessage
from shared.queue_work import Tally, backoff
from shared.settings import get_settings
from tests.integration.azurite import Azurite, azurite

__all__ = ["azurite"]  # the fixture, re-exported for pytest

pytestmark = pytest.mark.timeout(60)


class Flaky:
    """The handler: `down-*` messages fail with Unavailable on their first attempt, `refuse-*`
    ones are refused for good, anything else is sent."""

    def __init__(self) -> None:
        self.attempts: dict[str, list[tuple[float, int]]] = {}

    async def __call__(self, body: SmsMessage, r: Adapters, d: Delivery) -> Tally:
        self.attempts.setdefault(d.message_id, []).append((time.monotonic(), d.attempt))
        if d.message_id.startswith("down-") and d.attempt == 1:
            raise Unavailable("smtp 127.0.0.1:25: connection refused")
        if d.message_id.startswith("refuse-"):
            raise Rejected("550 number barred")
        return Tally().ok("sent")


@pytest.fixture
def host(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Flaky, QueueRunner]]:
    """`flaky_sms` registered by queue_function (Storage transport) and run by a QueueRunner."""
    monkeypatch.setenv("AzureWebJobsStorage", azurite.connection_string)
    for name in ("ServiceBusConnection", "ServiceBusConnection__fullyQualifiedNamespace"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    handler = Flaky()
    app = func.FunctionApp()
    bp = func.Blueprint()
    queue_function(bp, name="flaky_sms", queue=SMS_QUEUE, model=SmsMessage, handle=handler)
    app.register_functions(bp)
    spec: FunctionSpec = discover(app).functions["flaky_sms"]
    assert spec.trigger == "queueTrigger"
    events = EventLog(io.StringIO())
    service = QueueServiceClient.from_connection_string(azurite.connection_string)
    runner = QueueRunner(spec, Invoker(events), events, service, QueueOptions(poll_interval=0.2))
    try:
        yield handler, runner
    finally:
        service.close()
        get_settings.cache_clear()


async def send(conn: str, mid: str, to: str = "+15551230000") -> None:
    bus = StorageQueueBus(conn)
    try:
        await bus.send(SMS_QUEUE, {"to": to, "text": "hello"}, mid)
    finally:
        await bus.aclose()


def poison_notes(conn: str) -> list[dict[str, Any]]:
    client = QueueClient.from_connection_string(conn, f"{SMS_QUEUE}-poison")
    try:
        return [json.loads(base64.b64decode(m.content)) for m in client.peek_messages(max_messages=32)]
    except ResourceNotFoundError:
        return []
    finally:
        client.close()


async def wait_for(check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


def test_transient_failure_is_retried_after_the_backoff_then_succeeds(
    host: tuple[Flaky, QueueRunner], azurite: Azurite
) -> None:
    handler, runner = host
    mid = f"down-{uuid.uuid4().hex}"

    async def go() -> None:
        task = asyncio.create_task(runner.run())
        try:
            await send(azurite.connection_string, mid)
            await wait_for(lambda: len(handler.attempts.get(mid, [])) >= 2, timeout=backoff(1) + 8)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(go())
    (first, a1), (second, a2) = handler.attempts[mid]
    assert (a1, a2) == (1, 2)
    assert backoff(1) - 1 <= second - first <= backoff(1) + 5, second - first
    assert not [n for n in poison_notes(azurite.connection_string) if n["message_id"] == mid]


def test_refusals_and_schema_violations_are_poison_notes_with_reason_and_description(
    host: tuple[Flaky, QueueRunner], azurite: Azurite
) -> None:
    handler, runner = host
    refused, malformed = f"refuse-{uuid.uuid4().hex}", f"bad-{uuid.uuid4().hex}"

    def notes() -> dict[str, dict[str, Any]]:
        found = {n["message_id"]: n for n in poison_notes(azurite.connection_string)}
        return found if {refused, malformed} <= set(found) else {}

    async def go() -> dict[str, dict[str, Any]]:
        task = asyncio.create_task(runner.run())
        try:
            await send(azurite.connection_string, refused)
            await send(azurite.connection_string, malformed, to="555-1234")
            found: dict[str, dict[str, Any]] = await wait_for(notes, timeout=15)
            return found
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    found = asyncio.run(go())
    assert found[refused]["dead_letter_reason"] == "rejected"
    assert found[refused]["dead_letter_error_description"] == "Rejected: 550 number barred"
    assert found[malformed]["dead_letter_reason"] == "schema-violation"
    assert '$.to: "555-1234" does not match' in found[malformed]["dead_letter_error_description"]
    assert found[refused]["delivery_count"] == 1 and found[refused]["function"] == "flaky_sms"
    assert malformed not in handler.attempts  # never reached the handler
