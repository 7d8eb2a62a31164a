"""Helpers for the voicemail and messaging tests: the stack's function-run log lines, queue
peeks, the local SMS/push records, WAV bytes, and writing a call the way the SIP edge does."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import io
import json
import math
import struct
import wave
from collections.abc import Callable
from typing import Any

import httpx
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient

from infra.local.stack import LocalStack
from shared.adapters.history import open_history_store
from shared.adapters.recording_senders import JsonLinesRecord
from shared.adapters.storage_queue_bus import StorageQueueBus
from shared.history.models.call import ActivityItem, CallRecord, Leg, PathStep
from tests.waiting import eventually


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    return eventually(check, timeout=timeout, interval=0.2, message=what)


def queue_length(stack: LocalStack, queue: str) -> int:
    """Messages on a queue, invisible ones (being handled, or waiting for a retry) included."""
    client = QueueClient.from_connection_string(stack.azurite.connection_string, queue)
    try:
        return int(client.get_queue_properties().approximate_message_count or 0)
    except ResourceNotFoundError:
        return 0
    finally:
        client.close()


def wait_drained(stack: LocalStack, *queues: str, timeout: float = 30.0) -> None:
    """Wait until the functions host has handled every message on `queues` (each one deleted:
    done, or moved to its poison queue), so that whatever they were going to send is sent."""
    eventually(
        lambda: all(queue_length(stack, q) == 0 for q in queues),
        timeout=timeout,
        interval=0.2,
        message=f"the {', '.join(queues)} queue(s) to drain",
    )


def runs(stack: LocalStack, function: str) -> list[dict[str, Any]]:
    """The `function_run` lines the functions host logged for `function`, oldest first."""
    out = []
    for line in stack.host.log_path.read_text(errors="replace").splitlines():
        if '"function_run"' not in line or "{" not in line:
            continue
        try:
            doc = json.loads(line[line.index("{") :])
        except ValueError:
            continue
        if doc.get("event") == "function_run" and doc.get("function") == function:
            out.append(doc)
    return out


def peek(stack: LocalStack, queue: str) -> list[dict[str, Any]]:
    """The JSON bodies waiting on a queue (base64 text, as the bus and the host write them)."""
    client = QueueClient.from_connection_string(stack.azurite.connection_string, queue)
    try:
        msgs = list(client.peek_messages(max_messages=32))
    except ResourceNotFoundError:
        return []
    finally:
        client.close()
    out = []
    for m in msgs:
        try:
            out.append(json.loads(base64.b64decode(m.content)))
        except ValueError:
            out.append({"raw": m.content})
    return out


def send(stack: LocalStack, queue: str, body: dict[str, Any], message_id: str) -> None:
    """Queue a message the way every producer does (StorageQueueBus)."""

    async def go() -> None:
        bus = StorageQueueBus(stack.azurite.connection_string)
        try:
            await bus.send(queue, body, message_id)
        finally:
            await bus.aclose()

    asyncio.run(go())


def send_raw(stack: LocalStack, queue: str, text: str) -> None:
    """Queue arbitrary text (base64, the host's encoding), e.g. a malformed body."""
    client = QueueClient.from_connection_string(stack.azurite.connection_string, queue)
    try:
        with contextlib.suppress(ResourceExistsError):
            client.create_queue()
        client.send_message(base64.b64encode(text.encode()).decode())
    finally:
        client.close()


def sms_records(stack: LocalStack) -> list[dict[str, Any]]:
    return JsonLinesRecord(stack.settings.data_dir / "sms").read()


def push_records(stack: LocalStack) -> list[dict[str, Any]]:
    return JsonLinesRecord(stack.settings.data_dir / "push").read()


def tone_wav(seconds: float = 2.0, hz: float = 440.0, rate: int = 8000) -> bytes:
    """8 kHz mono 16-bit PCM, like the edge's voicemail recorder writes."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * hz * i / rate)))
        for i in range(int(seconds * rate))
    )
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)
    return buf.getvalue()


def edge_call(
    tenant_id: str,
    user_id: str,
    call_id: str,
    *,
    disposition: str,
    voicemail_blob: str | None = None,
    caller: str = "+15559870001",
    number_called: str = "+15557770199",
) -> CallRecord:
    """A finished inbound call as the edge records it (caller leg, one unanswered forward)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(seconds=40)
    legs = [
        Leg(leg_id=f"{call_id}-in", kind="caller", started_at=start, answered_at=start, ended_at=now),
        Leg(
            leg_id=f"{call_id}-fwd",
            kind="forward",
            destination="+15550001002",
            started_at=start + dt.timedelta(seconds=3),
            ended_at=start + dt.timedelta(seconds=23),
            outcome="no_answer",
            sip_status=408,
        ),
    ]
    return CallRecord(
        call_id=call_id,
        tenant_id=tenant_id,
        number_called=number_called,
        caller=caller,
        path=[PathStep(input="entry", action="transfer_user", target=user_id)],
        legs=legs,
        started_at=start,
        answered_at=None,
        ended_at=now,
        disposition=disposition,  # type: ignore[arg-type]
        user_id=user_id,
        voicemail_blob=voicemail_blob,
    )


def write_history(stack: LocalStack, record: CallRecord, activity: ActivityItem | None) -> None:
    store = open_history_store(stack.settings)
    try:
        store.put_call(record)
        if activity is not None:
            store.add_activity(activity)
    finally:
        store.close()


def get_activity(stack: LocalStack, tenant_id: str, user_id: str, activity_id: str) -> ActivityItem | None:
    store = open_history_store(stack.settings)
    try:
        return store.get_activity(tenant_id, user_id, activity_id)
    finally:
        store.close()


def admin_run(stack: LocalStack, function: str, value: str) -> None:
    r = httpx.post(
        f"http://127.0.0.1:{stack.api_port}/admin/functions/{function}", json={"input": value}, timeout=10
    )
    assert r.status_code == 202, r.text
