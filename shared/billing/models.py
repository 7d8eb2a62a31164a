"""The `reports` queue: ask for a tenant's usage report of one month (built into Blob `reports`
and emailed as a link). Sent through `shared.ports.MessageBus`, which adds `message_id`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

REPORTS_QUEUE = "reports"


class ReportRequest(BaseModel):
    """Build `reports/{tenant_id}/{month}.csv|.pdf` and email the link to the tenant's owner
    (or to `user_id`, a user of the tenant, when given). `month` is `YYYY-MM` (UTC)."""

    model_config = ConfigDict(extra="ignore")

    message_id: str | None = Field(default=None, min_length=1, max_length=200)
    tenant_id: str = Field(min_length=1, max_length=64, pattern=r"^[^/\s]+$")
    month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", examples=["2026-05"])
    user_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[^/\s]+$")
