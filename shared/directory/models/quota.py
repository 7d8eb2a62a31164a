"""Per-tenant quotas: how many users, numbers, menus and prompts a tenant may have, and how many
bytes of prompt audio it may store.

`Quotas` is both the defaults (from settings, `QUOTA_*`) and the operator's per-tenant override
(`Tenant.quotas`, set with `python -m ops tenants set-quota`; tenants cannot change it): a field
left None in the override falls back to the default.
"""

from __future__ import annotations

import enum

from pydantic import BaseModel, ConfigDict, Field


class QuotaKind(enum.StrEnum):
    USERS = "users"
    NUMBERS = "numbers"
    MENUS = "menus"
    PROMPTS = "prompts"
    MEDIA_BYTES = "media_bytes"
    """The bytes of every prompt upload the tenant keeps (voicemail and call recordings are
    not counted: refusing a caller's message for space would lose it; their retention bounds
    them instead)."""


_COUNT = Field(default=None, ge=0, le=100_000)


class Quotas(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    users: int | None = _COUNT
    numbers: int | None = _COUNT
    menus: int | None = _COUNT
    prompts: int | None = _COUNT
    media_bytes: int | None = Field(default=None, ge=0, le=1024**4)

    def limit(self, kind: QuotaKind) -> int | None:
        value: int | None = getattr(self, kind.value)
        return value

    def over(self, defaults: Quotas) -> Quotas:
        """These limits where set, `defaults` elsewhere."""
        return Quotas.model_validate(
            {k.value: self.limit(k) if self.limit(k) is not None else defaults.limit(k) for k in QuotaKind}
        )
