"""The History DB: call records, activity feeds and daily stats (see `port.py` for the contract).

store = open_history_store(get_settings())      # MongoDB if MONGODB_URI is set, else SQLite
store.put_call(record)                          # idempotent by call id
items, cursor = store.list_calls(tenant_id, disposition="missed", limit=50)
"""

from shared.history.factory import default_sqlite_path, open_history_store
from shared.history.port import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    MAX_STATS_DAYS,
    DailyStats,
    HistoryStore,
    InvalidCursor,
    Page,
)

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "MAX_STATS_DAYS",
    "DailyStats",
    "HistoryStore",
    "InvalidCursor",
    "Page",
    "default_sqlite_path",
    "open_history_store",
]
