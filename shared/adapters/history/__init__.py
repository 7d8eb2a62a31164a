"""The History DB adapters: SQLite (embedded default) and MongoDB, behind `shared.history.ports.HistoryStore`.

store = open_history_store(get_settings())      # MongoDB if MONGODB_URI is set, else SQLite
store.put_call(record)                          # idempotent by call id
items, cursor = store.list_calls(tenant_id, disposition="missed", limit=50)
"""

from shared.adapters.history.factory import default_sqlite_path, open_history_store

__all__ = ["default_sqlite_path", "open_history_store"]
