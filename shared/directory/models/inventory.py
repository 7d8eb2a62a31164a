"""The operator's number inventory: every number the carrier gave us, and whether a tenant may take it.

Stored at `idx/inventory/{e164}` (a global index entry, written in the same ConfigDB transaction
as the number claim or release it reflects). A number is `free`, `assigned` to one tenant, or
`quarantined` after a release until `quarantined_until`; a quarantine that has run out counts as
free (`effective_state`), so no job has to lift it.
"""

from __future__ import annotations

import datetime as dt
import enum

from pydantic import Field

from shared.values import E164, OutputModel, StoredModel, UtcDatetime

REGION_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
CAPABILITY_PATTERN = r"^[a-z][a-z0-9-]{0,19}$"


class InventoryState(enum.StrEnum):
    FREE = "free"
    ASSIGNED = "assigned"
    QUARANTINED = "quarantined"


class InventoryNumber(StoredModel):
    number: E164
    region: str = Field(min_length=1, max_length=32, pattern=REGION_PATTERN)
    capabilities: list[str] = Field(default_factory=list, max_length=10)
    state: InventoryState = InventoryState.FREE
    tenant_id: str | None = None
    quarantined_until: UtcDatetime | None = None
    imported_at: UtcDatetime

    def effective_state(self, now: dt.datetime) -> InventoryState:
        """`quarantined` turns `free` once `quarantined_until` has passed."""
        if self.state is InventoryState.QUARANTINED and (
            self.quarantined_until is None or self.quarantined_until <= now
        ):
            return InventoryState.FREE
        return self.state

    def assigned_to(self, tenant_id: str) -> InventoryNumber:
        return self.model_copy(
            update={"state": InventoryState.ASSIGNED, "tenant_id": tenant_id, "quarantined_until": None}
        )

    def quarantined(self, until: dt.datetime) -> InventoryNumber:
        return self.model_copy(
            update={"state": InventoryState.QUARANTINED, "tenant_id": None, "quarantined_until": until}
        )


class AvailableNumber(OutputModel):
    """`GET /numbers/available`: a number a tenant of this region may claim now."""

    number: str
    region: str
    capabilities: list[str]
