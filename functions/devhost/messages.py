"""Build the trigger argument objects handlers receive (``func.ServiceBusMessage`` etc.)."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Literal

import azure.functions as func
from azure.functions.blob import InputStream
from azure.functions.queue import QueueMessage
from azure.functions.servicebus import ServiceBusMessage

Encoding = Literal["base64", "text"]


def decode_body(content: str | bytes, encoding: Encoding) -> bytes:
    """Storage queue message text → body bytes (Azure Functions' default encoding is base64)."""
    raw = content.encode() if isinstance(content, str) else content
    if encoding == "text":
        return raw
    try:
        return base64.b64decode(raw, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"message is not valid base64: {exc}") from exc


def encode_body(body: bytes, encoding: Encoding) -> str:
    return base64.b64encode(body).decode() if encoding == "base64" else body.decode()


def service_bus_message(
    body: bytes,
    *,
    message_id: str | None = None,
    delivery_count: int = 1,
    enqueued: datetime | None = None,
    expires: datetime | None = None,
    locked_until: datetime | None = None,
    lock_token: str | None = None,
) -> func.ServiceBusMessage:
    return ServiceBusMessage(
        body=body,
        message_id=message_id or uuid.uuid4().hex,
        delivery_count=delivery_count,
        enqueued_time_utc=enqueued,
        expires_at_utc=expires,
        locked_until=locked_until,
        lock_token=lock_token,
        application_properties={},
        user_properties={},
    )


def queue_message(
    body: bytes,
    *,
    message_id: str | None = None,
    pop_receipt: str | None = None,
    dequeue_count: int = 1,
    inserted: datetime | None = None,
    expires: datetime | None = None,
    next_visible: datetime | None = None,
) -> func.QueueMessage:
    return QueueMessage(
        id=message_id or uuid.uuid4().hex,
        body=body,
        pop_receipt=pop_receipt,
        dequeue_count=dequeue_count,
        insertion_time=inserted,
        expiration_time=expires,
        time_next_visible=next_visible,
    )


def input_stream(container: str, blob_name: str, data: bytes, uri: str) -> func.InputStream:
    return InputStream(data=data, name=f"{container}/{blob_name}", uri=uri, length=len(data))
