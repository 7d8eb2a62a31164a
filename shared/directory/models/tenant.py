"""Tenant: one small business, its settings, business hours and call entry points."""

from __future__ import annotations

import enum
from typing import ClassVar

from pydantic import Field, model_validator

from shared.directory.models.quota import Quotas
from shared.values import (
    BusinessHours,
    DisplayName,
    EntryPoint,
    Holidays,
    Id,
    InputModel,
    Locale,
    OutputModel,
    PatchModel,
    StoredModel,
    TimeZoneName,
    UtcDatetime,
)

_NAME = Field(min_length=1, max_length=100)
_REGION = Field(min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9-]*$", examples=["eus"])


class TenantStatus(enum.StrEnum):
    TRIAL = "trial"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"


class Tenant(StoredModel):
    """The stored tenant document (ConfigDB `t/{id}/tenant/{id}`).

    `business_hours=None` means no schedule: always open (holidays still close the tenant).
    A weekday missing from `business_hours` is closed all day.
    `open_entry`/`closed_entry` are used for numbers that have no entry of their own
    (see `shared.directory.services.business_hours.resolve_entry`).
    """

    id: Id
    name: str = _NAME
    status: TenantStatus = TenantStatus.TRIAL
    trial_ends_at: UtcDatetime | None = None
    created_at: UtcDatetime
    region: str = _REGION
    time_zone: TimeZoneName = "UTC"
    locale: Locale = "en-US"
    business_hours: BusinessHours | None = None
    holidays: Holidays = Field(default_factory=list)
    open_entry: EntryPoint | None = None
    closed_entry: EntryPoint | None = None
    owner_user_id: Id | None = None
    recording_enabled: bool = False
    """Record every bridged call of the tenant (users can also turn recording on for themselves)."""
    billing_account_id: str | None = Field(default=None, max_length=200)
    """The billing account paying for the tenant; a trial without one is suspended when it ends."""
    status_changed_at: UtcDatetime | None = None
    """When `status` last changed (set by whoever changes it); the cleaner's retention counts from it."""
    quotas: Quotas | None = None
    """The operator's per-tenant quota override (`python -m ops tenants set-quota`); None fields,
    or None, mean the defaults from settings. Not tenant-editable."""

    @model_validator(mode="after")
    def _trial_has_end(self) -> Tenant:
        if self.status is TenantStatus.TRIAL and self.trial_ends_at is None:
            raise ValueError("a tenant in trial needs trial_ends_at")
        return self


class TenantCreate(InputModel):
    """Sign-up body: the API fills id, status, trial_ends_at, created_at and owner."""

    name: DisplayName
    region: str | None = Field(default=None, min_length=1, max_length=32, pattern=r"^[a-z0-9][a-z0-9-]*$")
    time_zone: TimeZoneName = "UTC"
    locale: Locale = "en-US"


class TenantPatch(PatchModel):
    """PATCH /tenant: any subset of the settings a tenant admin may change.
    `business_hours`, `open_entry` and `closed_entry` may be sent as null to clear them.
    Status, region and trial end are not tenant-editable."""

    _nullable: ClassVar[frozenset[str]] = frozenset({"business_hours", "open_entry", "closed_entry"})

    name: DisplayName | None = None
    time_zone: TimeZoneName | None = None
    locale: Locale | None = None
    business_hours: BusinessHours | None = None
    holidays: Holidays | None = None
    open_entry: EntryPoint | None = None
    closed_entry: EntryPoint | None = None
    recording_enabled: bool | None = None


class TenantOut(OutputModel):
    id: str
    name: str
    status: TenantStatus
    trial_ends_at: UtcDatetime | None
    created_at: UtcDatetime
    region: str
    time_zone: str
    locale: str
    business_hours: BusinessHours | None
    holidays: Holidays
    open_entry: EntryPoint | None
    closed_entry: EntryPoint | None
    owner_user_id: str | None
    recording_enabled: bool = False
