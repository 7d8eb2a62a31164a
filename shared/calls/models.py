"""A call in progress on a SIP edge, as the edge's call-control API and the web API show it.

Live state only: when the call ends it leaves the edge's table and its `CallRecord`
(`shared/history/models/call.py`) lands in the History DB under the same `call_id`.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ActiveCall(BaseModel):
    call_id: str = Field(description="The call's id; its History record has the same id.")
    tenant_id: str
    direction: str = Field(description="inbound or click_to_call", examples=["click_to_call"])
    caller: str | None = Field(default=None, description="For click-to-call: the user's phone, rung first.")
    number_called: str | None = Field(default=None, description="For click-to-call: the destination.")
    user_id: str | None = None
    state: str = Field(
        description="inbound: the IVR state; click-to-call: ringing_user, dialing_destination, bridged",
        examples=["bridged"],
    )
    started_at: str = Field(description="UTC ISO-8601 with Z")
