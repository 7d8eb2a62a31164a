"""Local marketing system: records the contacts the marketing sync sends, as JSON lines in
`DATA_DIR/marketing/messages.jsonl` (`{"ts", "message_id", "contact": {...}}`), once per message
id (a resend of the same contact revision is not written again). In Azure a CRM or mailing-list
adapter implements `shared.lifecycle.ports.MarketingSink` instead."""

from __future__ import annotations

from pathlib import Path

from shared.adapters.recording_senders import JsonLinesRecord, _now
from shared.lifecycle.models import MarketingContact


class RecordingMarketingSink:
    def __init__(self, directory: Path) -> None:
        self.record = JsonLinesRecord(directory)

    async def send(self, contact: MarketingContact, message_id: str) -> None:
        await self.record.append_once(
            {"ts": _now(), "message_id": message_id, "contact": contact.model_dump(mode="json")}
        )
