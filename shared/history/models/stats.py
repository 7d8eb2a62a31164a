"""A tenant's daily call counters, as the History DB keeps them and `GET /stats` returns them."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class DailyStats(BaseModel):
    """One tenant's counters for one UTC day.

    `minutes` sums each call's talk time (answered to ended) rounded up to whole minutes, the way
    carriers bill; `seconds` is the exact talk time. `voicemails` counts calls that left a voicemail.
    """

    model_config = ConfigDict(extra="ignore")

    day: dt.date
    calls: int = 0
    minutes: int = 0
    seconds: int = 0
    voicemails: int = 0
    by_disposition: dict[str, int] = Field(default_factory=dict)
    by_direction: dict[str, int] = Field(default_factory=dict)
