"""Models of the lifecycle domain."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from shared.values import UtcDatetime


class MarketingContact(BaseModel):
    """One sign-up as the marketing system receives it."""

    model_config = ConfigDict(extra="ignore")

    user_id: str
    tenant_id: str
    email: str | None = None
    name: str | None = None
    company: str | None = None
    marketing_consent: bool = False
    signed_up_at: UtcDatetime | None = None
    revision: int
    deleted: bool = False
