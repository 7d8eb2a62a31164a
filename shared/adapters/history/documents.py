"""The stored documents: `CallRecord` and `ActivityItem` from `shared.history.models.call`.

Validation happens at the edges: whatever comes in (a model or a plain dict) is validated into the
model before it is written, and every document read back is validated again.
"""

from __future__ import annotations

import logging
from typing import Any

from shared import logs
from shared.history.models.call import ActivityItem, CallRecord

log = logging.getLogger("history")


def as_call(record: CallRecord | dict[str, Any]) -> CallRecord:
    return record if isinstance(record, CallRecord) else CallRecord.model_validate(record)


def as_activity(item: ActivityItem | dict[str, Any]) -> ActivityItem:
    return item if isinstance(item, ActivityItem) else ActivityItem.model_validate(item)


def log_event(event: str, level: int = logging.INFO, **fields: Any) -> None:
    """One JSON object per line: {"event": ..., "tenant_id": ..., ...}."""
    logs.log_event(log, event, level, **fields)
