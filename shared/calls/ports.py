"""Ports of the calls domain: the SIP edge's call control, as the functions reach it."""

from __future__ import annotations

from typing import Protocol

from shared.calls.models import ActiveCall, CallLimits


class EdgeCallControl(Protocol):
    """The SIP edge's call control (its HTTP API at EDGE_CONTROL_URL, bearer EDGE_CONTROL_TOKEN).

    Every call is scoped to one tenant: a call id of another tenant is treated as unknown.
    Raises `shared.errors.Unavailable` when the edge cannot be reached or answers with a server
    error, and `shared.calls.errors.CallRefused` when it refuses the request.
    """

    async def click_to_call(
        self,
        tenant_id: str,
        user_id: str,
        destination: str,
        *,
        limits: CallLimits | None = None,
        caller_id: str | None = None,
    ) -> ActiveCall:
        """Ring the user's first forwarding number, then dial `destination` (E.164) and bridge.
        Returns at once with the call in state `ringing_user`. The edge enforces `limits`
        (refusing with `CallRefused` 429 and a `reason`) and ends the call after
        `limits.max_duration_s`. The destination sees `caller_id` (checked by the caller of
        this port), else the tenant's first number."""
        ...

    async def code_call(self, tenant_id: str, number: str, code: str, caller_id: str | None) -> ActiveCall:
        """Call `number` and read out `code` (spoken digits, each followed by its DTMF tone),
        twice, then hang up. Returns at once; the call is listed among the tenant's live calls."""
        ...

    async def active_calls(self, tenant_id: str) -> list[ActiveCall]: ...

    async def hang_up(self, tenant_id: str, call_id: str) -> bool:
        """Hang up a live call of the tenant; False when there is none with that id."""
        ...
