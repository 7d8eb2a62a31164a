"""Builders of valid ConfigDB documents (as JSON-able dicts) for the SIP edge tests."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from shared.values import new_ulid

T0 = dt.datetime(2025, 3, 3, 12, 0, tzinfo=dt.UTC)  # a Monday
_seq = itertools.count(1)


def uid() -> str:
    return new_ulid(T0, next(_seq).to_bytes(10, "big"))


def tenant_doc(tid: str, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": tid,
        "name": "Acme",
        "status": "active",
        "created_at": "2025-01-01T00:00:00Z",
        "region": "eus",
        "time_zone": "UTC",
    }
    doc.update(over)
    return doc


def user_doc(tid: str, user_id: str, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": user_id,
        "tenant_id": tid,
        "name": "Ann",
        "email": f"ann{user_id[-4:].lower()}@example.com",
        "forwarding_numbers": ["+15550000001"],
        "created_at": "2025-01-01T00:00:00Z",
    }
    doc.update(over)
    return doc


def menu_doc(tid: str, menu_id: str, options: dict[str, Any] | None = None, **over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": menu_id,
        "tenant_id": tid,
        "name": "Main",
        "greeting": {"text": "Welcome"},
        "options": options or {},
    }
    doc.update(over)
    return doc


def number_doc(tid: str, e164: str, entry: dict[str, str] | None = None) -> dict[str, Any]:
    return {"number": e164, "tenant_id": tid, "entry": entry, "created_at": "2025-01-01T00:00:00Z"}


def device_doc(user_id: str, device_id: str) -> dict[str, Any]:
    return {
        "id": device_id,
        "user_id": user_id,
        "platform": "fcm",
        "token": "tok-" + device_id,
        "created_at": "2025-01-01T00:00:00Z",
    }
