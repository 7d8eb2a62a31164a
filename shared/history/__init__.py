"""History and voicemail: call records, activity feeds, daily stats, and who may read them.

- `models/`: `CallRecord` and `ActivityItem` (what the edge writes) and the API's views of them.
- `ports.py`: the `HistoryStore` contract; its SQLite and MongoDB adapters live in
  `shared.adapters.history` (`open_history_store(settings)` picks one).
- `services/`: read access per tenant and role (`access`), new-voicemail handling (`voicemail`),
  and the dashboard.
"""
