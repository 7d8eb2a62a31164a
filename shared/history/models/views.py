"""Response and request bodies of the history routes (`/calls`, `/voicemails`, `/activities`, `/stats`).

Built from the stored documents of `shared.history.models.call` (call records, activity items) and the
History DB's `DailyStats`. Blob names never leave the API: a call says whether it has a
recording or a voicemail and where to fetch the audio (a route that answers 302 to a short-lived
Blob SAS URL).

A voicemail is not a document of its own: it is the user's `voicemail` activity item (id
`voicemail:{call_id}`, or `voicemail:blob:{id}` when the edge's call record never arrived), whose
`data` holds the blob and the duration; heard means the item is read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from shared.history.models.call import (
    ActivityItem,
    ActivityKind,
    CallRecord,
    Direction,
    Disposition,
    Leg,
    PathStep,
)
from shared.history.models.stats import DailyStats
from shared.values import InputModel, OutputModel, PatchModel, UtcDatetime

API = "/api/v1"


class CallOut(OutputModel):
    """One call: the record the edge wrote, with its IVR path and legs."""

    call_id: str
    tenant_id: str
    number_called: str
    caller: str | None = None
    direction: Direction
    path: list[PathStep]
    legs: list[Leg]
    started_at: UtcDatetime
    answered_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    duration_s: float | None = Field(default=None, description="seconds from start to end")
    disposition: Disposition
    user_id: str | None = None
    hangup_reason: str | None = None
    has_voicemail: bool
    has_recording: bool
    recording_url: str | None = Field(
        default=None, description="the API route of the call's recording (302 to its audio), if any"
    )

    @classmethod
    def of(cls, record: CallRecord) -> CallOut:
        """From a record the store has validated already: built without validating it again (the
        hot path of `GET /calls`, 50 records with their legs per page)."""
        fields = {name: getattr(record, name) for name in cls.model_fields if name in CallRecord.model_fields}
        return cls.model_construct(
            **fields,
            duration_s=record.duration_s,
            has_voicemail=record.voicemail_blob is not None,
            has_recording=record.recording_blob is not None,
            recording_url=(
                f"{API}/calls/{record.call_id}/recording" if record.recording_blob is not None else None
            ),
        )


class CallPage(OutputModel):
    items: list[CallOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last page")


class VoicemailOut(OutputModel):
    id: str = Field(description="the voicemail's id: its activity id, `voicemail:{call_id}`")
    call_id: str | None = None
    user_id: str | None = Field(default=None, description="the box owner")
    caller: str | None = None
    title: str
    created_at: UtcDatetime
    seconds: float | None = Field(default=None, description="length of the recording")
    heard: bool
    archived: bool
    audio_url: str = Field(description="the API route that answers 302 to the audio")

    @classmethod
    def of(cls, item: ActivityItem) -> VoicemailOut:
        seconds = item.data.get("seconds")
        caller = item.data.get("caller")
        return cls(
            id=item.id,
            call_id=item.call_id,
            user_id=item.user_id,
            caller=caller if isinstance(caller, str) else None,
            title=item.title,
            created_at=item.created_at,
            seconds=float(seconds) if isinstance(seconds, int | float) and seconds >= 0 else None,
            heard=item.read,
            archived=item.archived,
            audio_url=f"{API}/voicemails/{item.id}/audio",
        )


class VoicemailPage(OutputModel):
    items: list[VoicemailOut]
    next_cursor: str | None


class VoicemailUpdate(InputModel):
    heard: bool


class ActivityOut(OutputModel):
    id: str
    user_id: str | None = None
    kind: ActivityKind
    call_id: str | None = None
    title: str
    created_at: UtcDatetime
    read: bool
    archived: bool
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, item: ActivityItem) -> ActivityOut:
        data = {k: v for k, v in item.data.items() if k != "blob"}  # blob names stay inside
        return cls.model_validate({**item.model_dump(mode="json"), "data": data})


class ActivityPage(OutputModel):
    items: list[ActivityOut]
    next_cursor: str | None
    unread: int = Field(description="the user's unread, unarchived items (all pages)")


class ActivityUpdate(PatchModel):
    read: bool | None = None
    archived: bool | None = None


class ReadAllResult(OutputModel):
    updated: int = Field(description="items that were unread and are now read")
    unread: int


class StatsOut(OutputModel):
    from_day: dt.date = Field(serialization_alias="from")
    to_day: dt.date = Field(serialization_alias="to")
    days: list[DailyStats] = Field(description="one entry per UTC day, from `from` to `to` inclusive")
    totals: DailyStats = Field(description="the sums over the range (its `day` is `from`)")
