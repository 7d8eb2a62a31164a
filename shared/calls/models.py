"""The calls domain's wire types: live calls and click-to-call requests.

`ActiveCall` is a call in progress on a SIP edge, as the edge's call-control API and the web API
show it. Live state only: when the call ends it leaves the edge's table and its `CallRecord`
(`shared/history/models/call.py`) lands in the History DB under the same `call_id`.

`ClickToCallBody` is what a user sends the web API; `ClickToCall` is what the functions send the
edge's call-control API (`POST /v1/calls`), the same model on both sides of that hop.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.values import E164


class ClickToCallBody(BaseModel):
    """`POST /api/v1/calls`: the number to dial once the signed-in user answers their phone."""

    model_config = ConfigDict(extra="forbid")

    destination: E164


class ClickToCall(BaseModel):
    """`POST /v1/calls` on the edge: ring `user_id`'s first forwarding number, then dial `destination`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=64)
    destination: E164


class ActiveCallList(BaseModel):
    items: list[ActiveCall]


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


ActiveCallList.model_rebuild()
