"""Choose and open the History DB: MongoDB when a URI is given, the embedded SQLite file otherwise."""

from __future__ import annotations

from pathlib import Path

from shared.history.ports import HistoryStore
from shared.settings import Settings

SQLITE_FILE = "history.sqlite3"


def default_sqlite_path(data_dir: Path) -> Path:
    return data_dir / "history" / SQLITE_FILE


def open_history_store(
    settings_or_uri: Settings | str | None = None, path: Path | str | None = None
) -> HistoryStore:
    """Open the History DB.

    - `Settings`: MongoDB if `mongodb_uri` is set, else SQLite at `path` or
      `{data_dir}/history/history.sqlite3`.
    - a `mongodb://` or `mongodb+srv://` URI string: MongoDB (database from the URI's path, else
      `cloudpbx`).
    - None or an empty string: SQLite at `path` (required).
    Raises `shared.errors.Unavailable` when the store cannot be opened.
    """
    uri: str | None
    if isinstance(settings_or_uri, Settings):
        uri = settings_or_uri.mongodb_uri.get_secret_value() if settings_or_uri.mongodb_uri else None
        if path is None:
            path = default_sqlite_path(settings_or_uri.data_dir)
    else:
        uri = settings_or_uri or None
    if uri:
        if not uri.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("a History DB URI must start with mongodb:// or mongodb+srv://")
        from shared.adapters.history.mongo_store import MongoHistoryStore  # pymongo only when used

        return MongoHistoryStore(uri)
    if path is None:
        raise ValueError("the embedded History DB needs a path (or pass Settings)")
    from shared.adapters.history.sqlite_store import SqliteHistoryStore

    return SqliteHistoryStore(path)
