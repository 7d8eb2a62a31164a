"""Mobile devices registered for push notifications. Stored at
`t/{tenant_id}/device/{user_id}/{device_id}` (see shared.configdb_keys.device_key)."""

from __future__ import annotations

import enum

from pydantic import Field

from shared.values import Id, InputModel, OutputModel, StoredModel, UtcDatetime

# APNs tokens are 64 hex chars, FCM registration tokens are ~150-250 chars; allow headroom.
_TOKEN = dict(min_length=8, max_length=4096, pattern=r"^[A-Za-z0-9_:\-.]+$")


class Platform(enum.StrEnum):
    APNS = "apns"
    FCM = "fcm"


class Device(StoredModel):
    id: Id
    user_id: Id
    platform: Platform
    token: str = Field(**_TOKEN)
    created_at: UtcDatetime


class DeviceCreate(InputModel):
    platform: Platform
    token: str = Field(**_TOKEN)


class DeviceOut(OutputModel):
    """The token is not echoed back (it identifies the handset to the push service)."""

    id: str
    user_id: str
    platform: Platform
    created_at: UtcDatetime
