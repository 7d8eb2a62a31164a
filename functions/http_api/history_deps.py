"""Dependencies of the history routes: the `HistoryAccess` service and query-parameter rules.

The History DB is opened on first use from the app's settings (MongoDB when `MONGODB_URI` is
set, else the embedded SQLite file under DATA_DIR, the same one the SIP edge writes) and closed
with the app (functions/wiring.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends

from shared.errors import InvalidField
from shared.history.services.access import HistoryAccess

from .deps import Ctx


def history_access(ctx: Ctx) -> HistoryAccess:
    return ctx.history


Access = Annotated[HistoryAccess, Depends(history_access)]


def invalid_query(name: str, message: str) -> InvalidField:
    """422 pointing at the query parameter `name`."""
    return InvalidField(f"#query/{name}", message)


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A query datetime without an offset is taken as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)
