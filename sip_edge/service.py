"""The edge's calls: the INVITE gate, the table of live calls, click-to-call and draining.

`EdgeCalls` takes every inbound INVITE (`handle_invite`) and the control API's requests (it is
the `control_api.CallController` the API drives). The process wiring (ConfigDB snapshot and
follower, SIP stack, media engine, control API server, signals) is `sip_edge.__main__.serve`.
Each INVITE goes through `handle_invite`:

    source over its INVITE rate  -> 503 Rate Limited (`source_limit.SourceLimiter`, per address)
    source not on the trunk      -> 403
    over capacity / draining     -> 503
    unknown number               -> 404
    tenant's share of legs used  -> 486 (`shares.TenantShares`: no tenant takes the whole edge)
    suspended / expired tenant   -> 183 early media, announcement, 403 (call record: rejected;
                                    never answered, so never billed)
    otherwise                    -> answer, `InboundCall` runs the IVR

`click_to_call` starts a `ClickToCallSession` (ring the user, then dial the destination and
bridge the two); both kinds of call sit in one `CallTable`, listed and hung up by id. The edge is
authoritative for a click-to-call's limits: it refuses a barred tenant (403 `tenant-suspended`,
`trial-expired`), the tenant's concurrent calls and calls per minute past the limits the request
carries (429 `too-many-concurrent-calls`, `call-rate-exceeded`, pacing in
`shared.calls.services.pacing`), and a tenant whose share of the legs is in use (429
`edge-share-exhausted`); it ends the call `max_duration_s` after the user answers.
Refusals are logged (`invite_rejected`, with the reason and the source address) through
`source_limit.RefusalLog`: the first 10 per reason and source in 5 s; the rest are counted into
that pair's next line (`suppressed`), so a flood cannot flood the log.
`drain()` (SIGTERM) refuses new calls with 503 and lets live ones finish, up to a limit.
The process shares nothing with other edge processes but ConfigDB, History and Blob, so
capacity grows by running more of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, NoReturn, TypeAlias

from shared.calls.services.pacing import CallPacer
from shared.directory.models.user import RingStrategy
from shared.history.models.call import CallRecord
from shared.history.models.call import Leg as LegDoc
from shared.logs import log_event
from shared.ports import Clock, SystemClock
from shared.tracing import use_traceparent
from sip_edge.call_flow import (
    EdgeDeps,
    InboundCall,
    LegTrack,
    dial_out,
    event,
    new_id,
    price_placed,
    ring_in_turn,
)
from sip_edge.control_api import ActiveCall, CallControlError, ClickToCall, CodeCall
from sip_edge.routing import Announce, Reject, route_inbound, tenant_barred
from sip_edge.shares import TenantShares
from sip_edge.sip.port import CallerId, InboundInvite, LegFailed
from sip_edge.source_limit import RefusalLog, SourceLimiter

log = logging.getLogger("sip_edge.service")

ANNOUNCEMENT_FOR = {
    "tenant_suspended": "service_suspended",
    "trial_expired": "service_suspended",
    "no_entry": "number_not_in_service",
}
# The final answer after an announcement's early media (never a 200: nothing is billed).
FINAL_AFTER_ANNOUNCEMENT = {
    "tenant_suspended": (403, "Service Suspended"),
    "trial_expired": (403, "Service Suspended"),
    "no_entry": (480, "Temporarily Unavailable"),
}
ANNOUNCEMENT_MAX_S = 30.0
BARRED = {"tenant_suspended": "tenant-suspended", "trial_expired": "trial-expired"}


@dataclass
class TrunkPolicy:
    """Which sources may send INVITEs: addresses or CIDR networks."""

    allowed: tuple[str, ...]

    def allows(self, host: str | None) -> bool:
        if host is None:
            return False
        try:
            addr = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return host in self.allowed
        for entry in self.allowed:
            try:
                if addr in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                if entry == host:
                    return True
        return False


LiveCall: TypeAlias = "InboundCall | ClickToCallSession"


class CallTable:
    """The process's live calls (inbound and click-to-call), by call id."""

    def __init__(self) -> None:
        self.calls: dict[str, LiveCall] = {}

    def add(self, call: LiveCall) -> None:
        self.calls[call.call_id] = call

    def remove(self, call: LiveCall) -> None:
        self.calls.pop(call.call_id, None)

    def of_tenant(self, tenant_id: str) -> list[LiveCall]:
        return [c for c in self.calls.values() if c.tenant_id == tenant_id]

    def __len__(self) -> int:
        return len(self.calls)


class EdgeCalls:
    """Takes INVITEs and control requests; owns the call table. Implements `CallController`."""

    def __init__(
        self,
        deps: EdgeDeps,
        trunk: TrunkPolicy,
        *,
        max_legs: int,
        clock: Clock | None = None,
        config_status: Any = None,
        tenant_share: float = 1.0,
        pacer: CallPacer | None = None,
        invite_limit: SourceLimiter | None = None,
    ) -> None:
        self.deps = deps
        self.invite_limit = invite_limit or SourceLimiter(time.monotonic)
        self.refusals = RefusalLog(time.monotonic)
        self.trunk = trunk
        self.max_legs = max_legs
        self.clock = clock or SystemClock()
        self.shares = deps.shares or TenantShares(max_legs, tenant_share)
        deps.shares = self.shares
        self.pacer = pacer or CallPacer(time.monotonic)
        self.table = CallTable()
        self.draining = False
        self.config_status = config_status
        self.tasks: set[asyncio.Task[Any]] = set()

    # -- inbound

    async def handle_invite(self, invite: InboundInvite) -> None:
        received = time.perf_counter()
        source = invite.source
        host = source.host if source else None
        if not self.invite_limit.allow(host or "unknown"):
            wait = self.invite_limit.retry_after_s(host or "unknown")
            await self._reject(invite, 503, "Rate Limited", "source_rate_limited", retry_after_s=wait)
            return
        if not self.trunk.allows(host):
            await self._reject(invite, 403, "Forbidden", "source_not_on_trunk", source=str(source))
            return
        # A call from the trunk starts its own trace: its log lines and call-ended message carry it.
        with use_traceparent(None, span_name="edge inbound call", kind="server"):
            await self._admit(invite, received)

    async def _admit(self, invite: InboundInvite, received: float) -> None:
        if self.draining:
            await self._reject(invite, 503, "Service Unavailable", "draining")
            return
        if self.deps.stack.active_legs >= self.max_legs - 1:
            await self._reject(invite, 503, "Service Unavailable", "capacity")
            return
        decision = route_inbound(
            self.deps.directory, invite.request_uri_user, invite.to_user, self.clock.now()
        )
        if isinstance(decision, Reject):
            await self._reject(
                invite, decision.status, "Not Found", decision.reason, called=invite.called_number
            )
            return
        tenant_id = decision.tenant.id
        if not self.shares.take(tenant_id):  # the caller's leg, given back when the call ends
            await self._reject(
                invite,
                486,
                "Busy Here",
                "tenant_share",
                tenant_id=tenant_id,
                legs=self.shares.used(tenant_id),
            )
            return
        try:
            if isinstance(decision, Announce):
                await self._announce(invite, decision)
                return
            await self._answer_and_run(invite, decision, received)
        finally:
            self.shares.give_back(tenant_id)

    async def _answer_and_run(self, invite: InboundInvite, decision: Any, received: float) -> None:
        leg = await invite.answer()
        self.deps.metrics.setup_seconds.observe(time.perf_counter() - received)
        call = InboundCall(
            self.deps,
            tenant=decision.tenant,
            number_called=decision.number.number,
            caller=invite.from_user,
            entry=decision.entry,
            caller_leg=leg,
        )
        event(
            "invite_answered",
            call.call_id,
            call.tenant_id,
            sip_call_id=invite.call_id,
            answer_ms=round((time.perf_counter() - received) * 1000, 2),
        )
        await self._run(call)

    async def _run(self, call: InboundCall) -> None:
        self.table.add(call)
        self.deps.metrics.active_calls.set(len(self.table))
        try:
            await call.run()
        finally:
            self.table.remove(call)
            self.deps.metrics.active_calls.set(len(self.table))

    async def _reject(self, invite: InboundInvite, status: int, reason: str, why: str, **fields: Any) -> None:
        self.deps.metrics.rejected_invites.labels(str(status)).inc()
        self.deps.metrics.failures.labels(why).inc()
        source = invite.source
        suppressed = self.refusals.record(why, source.host if source else "unknown")
        if suppressed is not None:
            doc = {
                "call_id": None,
                "tenant_id": None,
                "sip_call_id": invite.call_id,
                "status": status,
                "why": why,
                "source": str(source) if source else None,
                "suppressed": suppressed,
                **fields,
            }
            log_event(log, "invite_rejected", **doc)
        await invite.reject(status, reason)

    async def _announce(self, invite: InboundInvite, decision: Announce) -> None:
        """Play the announcement as early media (183 Session Progress), then refuse the INVITE
        with a final 4xx: the caller hears why, and the call is never answered, so never billed."""
        call_id = new_id()
        tenant_id = decision.tenant.id
        started = self.clock.now()
        status, phrase = FINAL_AFTER_ANNOUNCEMENT.get(decision.reason, (480, "Temporarily Unavailable"))
        self.deps.metrics.failures.labels(decision.reason).inc()
        event(
            "announcement",
            call_id,
            tenant_id,
            reason=decision.reason,
            sip_call_id=invite.call_id,
            early_media=True,
            final_status=status,
        )
        leg_id = new_id()
        with contextlib.suppress(Exception):
            leg = await invite.progress()
            leg_id = leg.leg_id
            gone = asyncio.Event()
            loop = asyncio.get_running_loop()
            leg.on_ended(lambda _e: loop.call_soon_threadsafe(gone.set))
            await leg.wait_media(2.0)
            media = self.deps.engine.attach(leg.audio, leg_id=leg.leg_id)
            pcm = self.deps.prompts.system(ANNOUNCEMENT_FOR.get(decision.reason, "number_not_in_service"))
            played = asyncio.ensure_future(asyncio.wrap_future(media.play(pcm, rate=8000).future))
            waiter = asyncio.ensure_future(gone.wait())
            try:
                await asyncio.wait(
                    {played, waiter}, timeout=ANNOUNCEMENT_MAX_S, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                played.cancel()
                waiter.cancel()
                media.detach("announcement_done")
        await invite.reject(status, phrase)
        ended = self.clock.now()
        record = CallRecord(
            call_id=call_id,
            tenant_id=tenant_id,
            number_called=decision.number.number,
            caller=invite.from_user,
            legs=[
                LegDoc(
                    leg_id=leg_id,
                    kind="caller",
                    started_at=started,
                    ended_at=ended,
                    outcome="declined",
                    sip_status=status,
                )
            ],
            started_at=started,
            ended_at=ended,
            disposition="rejected",
            hangup_reason=decision.reason,
        )
        with contextlib.suppress(Exception):
            await self.deps.history.put_call(record)
        self.deps.metrics.calls.labels("rejected").inc()

    # -- CallController

    async def click_to_call(self, request: ClickToCall) -> ActiveCall:
        d = self.deps.directory
        user = d.user(request.tenant_id, request.user_id)
        tenant = d.tenant(request.tenant_id)
        if user is None or tenant is None:
            raise CallControlError(404, "Not Found", "no such user in this tenant")
        barred = tenant_barred(tenant, self.clock.now())
        if barred is not None:
            self._refuse(
                request, 403, BARRED[barred], f"the tenant places no calls ({barred.replace('_', ' ')})"
            )
        if not user.forwarding_numbers:
            raise CallControlError(422, "No phone", "the user has no forwarding number to ring first")
        if self.draining:
            raise CallControlError(503, "Draining", "this edge is shutting down")
        live = sum(1 for c in self.table.of_tenant(tenant.id) if isinstance(c, ClickToCallSession))
        if request.max_concurrent_calls is not None and live >= request.max_concurrent_calls:
            self._refuse(
                request,
                429,
                "too-many-concurrent-calls",
                f"the tenant has {live} click-to-calls up, its limit {request.max_concurrent_calls}",
                retry_after=10,
            )
        if self.deps.stack.active_legs + 2 > self.max_legs - 1:
            raise CallControlError(503, "Full", "this edge has no room for two more legs")
        call = ClickToCallSession(self, tenant, user, request.destination, None, request.max_duration_s)
        if not self.shares.reserve(tenant.id, call.call_id, 2):
            self._refuse(
                request,
                429,
                "edge-share-exhausted",
                f"the tenant holds {self.shares.used(tenant.id)} of the {self.shares.cap} call legs"
                " one tenant may hold on this edge",
                retry_after=10,
            )
        if request.calls_per_minute is not None:
            wait_s = self.pacer.admit(tenant.id, request.calls_per_minute)
            if wait_s is not None:
                self.shares.release_call(call.call_id)
                self._refuse(
                    request,
                    429,
                    "call-rate-exceeded",
                    f"the tenant has started {request.calls_per_minute} click-to-calls in the last minute",
                    retry_after=math.ceil(wait_s),
                )
        numbers = d.numbers_of(tenant.id)
        call.presented = request.caller_id or (numbers[0] if numbers else None)
        return self._launch(call)

    async def code_call(self, request: CodeCall) -> ActiveCall:
        """Call `request.number` and read out its code (caller-ID verification); returns at once."""
        tenant = self.deps.directory.tenant(request.tenant_id)
        if tenant is None:
            raise CallControlError(404, "Not Found", "no such tenant")
        if self.draining:
            raise CallControlError(503, "Draining", "this edge is shutting down")
        if self.deps.stack.active_legs + 1 > self.max_legs - 1:
            raise CallControlError(503, "Full", "this edge has no room for another leg")
        return self._launch(CodeCallSession(self, tenant.id, request.number, request.code, request.caller_id))

    def _launch(self, call: ClickToCallSession | CodeCallSession) -> ActiveCall:
        """Run a placed call in the background: listed and hung up like any live call, counted
        while draining; when it ends it leaves the table and gives back its share reservation."""
        self.table.add(call)
        self.deps.metrics.active_calls.set(len(self.table))

        def ended(_task: asyncio.Task[Any]) -> None:
            self.tasks.discard(_task)
            self.table.remove(call)
            self.shares.release_call(call.call_id)
            self.deps.metrics.active_calls.set(len(self.table))

        call.task = asyncio.ensure_future(call.run())
        self.tasks.add(call.task)
        call.task.add_done_callback(ended)
        return ActiveCall(**call.info())

    def _refuse(
        self, request: ClickToCall, status: int, reason: str, detail: str, retry_after: int | None = None
    ) -> NoReturn:
        self.deps.metrics.failures.labels(reason).inc()
        log_event(
            log,
            "click_to_call_refused",
            call_id=None,
            tenant_id=request.tenant_id,
            user_id=request.user_id,
            status=status,
            reason=reason,
            detail=detail,
        )
        raise CallControlError(status, "Refused", detail, reason=reason, retry_after=retry_after)

    def active_calls(self, tenant_id: str) -> list[ActiveCall]:
        return [ActiveCall(**c.info()) for c in self.table.of_tenant(tenant_id)]

    async def hangup(self, tenant_id: str, call_id: str) -> bool:
        call = self.table.calls.get(call_id)
        if call is None or call.tenant_id != tenant_id:
            return False
        await call.hangup("hangup_requested")
        return True

    def health(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "status": "draining" if self.draining else "ok",
            "draining": self.draining,
            "active_calls": len(self.table),
            "active_legs": self.deps.stack.active_legs,
            "tenant_leg_cap": self.shares.cap,
            "tenant_legs": self.shares.snapshot(),
        }
        if self.config_status is not None:
            info["config"] = self.config_status()
        return info

    def metrics(self) -> tuple[bytes, str]:
        from sip_edge.metrics import CONTENT_TYPE

        self.deps.metrics.active_legs.set(self.deps.stack.active_legs)
        return self.deps.metrics.render(), CONTENT_TYPE

    async def drain(self, timeout: float) -> None:
        """Refuse new calls (503) and wait for live ones, up to `timeout` seconds."""
        self.draining = True
        self.deps.metrics.draining.set(1)
        deadline = time.monotonic() + timeout
        log_event(log, "draining", active_calls=len(self.table), timeout_s=timeout)
        while len(self.table) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for call in list(self.table.calls.values()):
            await call.hangup("edge_shutdown")
        await asyncio.sleep(0)


class _PlacedCall:
    """What the edge's placed calls share: an id, a start, a background task and `hangup()`,
    which cancels `run()` wherever it is; `run()` files the call record with the reason given."""

    direction: str

    def __init__(self, edge: EdgeCalls, tenant_id: str, state: str) -> None:
        self.edge, self.tenant_id, self.state = edge, tenant_id, state
        self.call_id = new_id()
        self.started_at = edge.clock.now()
        self.task: asyncio.Task[None] | None = None
        self.hangup_reason: str | None = None

    def _info(self, caller: str | None, number_called: str, user_id: str | None) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "tenant_id": self.tenant_id,
            "direction": self.direction,
            "caller": caller,
            "number_called": number_called,
            "user_id": user_id,
            "state": self.state,
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
        }

    async def hangup(self, reason: str = "hangup_requested") -> None:
        if self.task is None or self.task.done() or self.hangup_reason is not None:
            return
        self.hangup_reason = reason
        event(f"{self.direction}_hangup", self.call_id, self.tenant_id, reason=reason, state=self.state)
        self.task.cancel()


class ClickToCallSession(_PlacedCall):
    """Ring the user's phone; when they answer, dial the destination and bridge the two.

    `hangup()` (the control API's DELETE, or draining) cancels `run()` at whatever stage it is:
    ringing the user, dialing the destination or bridged; every leg placed is hung up and the
    call record still lands, with `hangup_reason` the reason given.
    """

    direction = "click_to_call"

    def __init__(
        self,
        edge: EdgeCalls,
        tenant: Any,
        user: Any,
        destination: str,
        presented: str | None,
        max_duration_s: int | None = None,
    ) -> None:
        super().__init__(edge, tenant.id, "ringing_user")
        self.tenant, self.user = tenant, user
        self.destination, self.presented = destination, presented
        self.max_duration_s = max_duration_s

    def info(self) -> dict[str, Any]:
        info = self._info(self.user.forwarding_numbers[0], self.destination, self.user.id)
        return {**info, "max_duration_s": self.max_duration_s}

    async def run(self) -> None:
        deps = self.edge.deps
        placed: list[LegTrack] = []
        first: LegTrack | None = None
        second: LegTrack | None = None
        limit: asyncio.TimerHandle | None = None
        reason = "user_no_answer"
        try:
            first = await ring_in_turn(
                deps,
                tuple(self.user.forwarding_numbers[:1]),
                RingStrategy.SEQUENTIAL,
                self.user.ring_timeout_s,
                caller_id=CallerId(self.destination),
                call_id=self.call_id,
                tenant_id=self.tenant.id,
                placed=placed,
            )
            if first is not None:
                if self.max_duration_s is not None:  # counted from the first billed moment
                    limit = asyncio.get_running_loop().call_later(
                        self.max_duration_s, lambda: asyncio.ensure_future(self.hangup("max_duration"))
                    )
                self.state = "dialing_destination"
                for t in placed:
                    t.doc.kind = "click_to_call"
                try:
                    second = await dial_out(
                        deps,
                        self.destination,
                        caller_id=CallerId(self.presented) if self.presented else None,
                        ring_timeout_s=60,
                        kind="forward",
                        call_id=self.call_id,
                        tenant_id=self.tenant.id,
                    )
                except (LegFailed, Exception) as exc:
                    track = getattr(exc, "track", None)
                    if track is not None:
                        placed.append(track)
                    reason = "destination_failed"
                if second is not None:
                    placed.append(second)
                    self.state = "bridged"
                    await first.leg.wait_media(2.0)
                    await second.leg.wait_media(2.0)
                    a = deps.engine.attach(first.leg.audio, leg_id=first.leg.leg_id)
                    b = deps.engine.attach(second.leg.audio, leg_id=second.leg.leg_id)
                    deps.engine.bridge(a, b)
                    ended = asyncio.Event()
                    loop = asyncio.get_running_loop()
                    for t in (first, second):
                        t.leg.on_ended(lambda _e: loop.call_soon_threadsafe(ended.set))
                    try:
                        await ended.wait()
                        reason = "hangup"
                    finally:
                        a.detach("call_ended")
                        b.detach("call_ended")
        except asyncio.CancelledError as exc:
            track = getattr(exc, "track", None)  # cancelled while dialing the destination
            if track is not None and track not in placed:
                placed.append(track)
            if self.hangup_reason is None:
                raise  # not ours (the loop is closing): let it through after the record below
            reason = self.hangup_reason
        finally:
            if limit is not None:
                limit.cancel()
            now = deps.clock.now()
            for t in placed:
                with contextlib.suppress(Exception):
                    await t.leg.hangup()
                t.close(now, "cancelled")
            from sip_edge.quality import disposition_of

            legs = [t.doc for t in placed]
            price_placed(deps, legs)
            # filed by the destination once the user answered (their own leg always answered then)
            outcome_legs = [t.doc for t in placed if t is not first] if first is not None else legs
            record = CallRecord(
                call_id=self.call_id,
                tenant_id=self.tenant.id,
                number_called=self.destination,
                caller=self.user.forwarding_numbers[0],
                direction="click_to_call",
                legs=legs,
                started_at=self.started_at,
                answered_at=second.doc.answered_at if second else None,
                ended_at=now,
                disposition=disposition_of(legs=outcome_legs),
                user_id=self.user.id,
                hangup_reason=reason,
            )
            with contextlib.suppress(Exception):
                await deps.history.put_call(record)
            event(
                "click_to_call_ended",
                self.call_id,
                self.tenant.id,
                reason=reason,
                disposition=record.disposition,
            )


class CodeCallSession(_PlacedCall):
    """Call a number and read out a verification code (spoken digits, each keyed as DTMF), twice,
    then hang up. The leg is priced and filed as an outbound call of the tenant; the code is
    never logged."""

    direction = "caller_id_check"
    ring_timeout_s = 45.0

    def __init__(
        self, edge: EdgeCalls, tenant_id: str, number: str, code: str, presented: str | None
    ) -> None:
        super().__init__(edge, tenant_id, "dialing")
        self.number, self.code, self.presented = number, code, presented

    def info(self) -> dict[str, Any]:
        return self._info(self.presented, self.number, None)

    async def run(self) -> None:
        from sip_edge.media.system_prompts import code_announcement
        from sip_edge.quality import disposition_of

        deps = self.edge.deps
        track: LegTrack | None = None
        reason = "no_answer"
        try:
            try:
                track = await dial_out(
                    deps,
                    self.number,
                    caller_id=CallerId(self.presented) if self.presented else None,
                    ring_timeout_s=self.ring_timeout_s,
                    kind="forward",
                    call_id=self.call_id,
                    tenant_id=self.tenant_id,
                )
            except (LegFailed, Exception) as exc:
                track = getattr(exc, "track", None)
                reason = "destination_failed"
                return
            self.state = "reading_code"
            await track.leg.wait_media(2.0)
            media = deps.engine.attach(track.leg.audio, leg_id=track.leg.leg_id)
            ended = asyncio.Event()
            loop = asyncio.get_running_loop()
            track.leg.on_ended(lambda _e: loop.call_soon_threadsafe(ended.set))
            try:
                played = asyncio.wrap_future(
                    media.play(code_announcement(self.code), rate=8000, interruptible=False).future
                )
                waiter = asyncio.ensure_future(ended.wait())
                try:
                    await asyncio.wait([played, waiter], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiter.cancel()
                reason = "hangup" if ended.is_set() else "code_read"
            finally:
                media.detach("call_ended")
        except asyncio.CancelledError:
            if self.hangup_reason is None:
                raise
            reason = self.hangup_reason
        finally:
            now = deps.clock.now()
            legs = []
            if track is not None:
                with contextlib.suppress(Exception):
                    await track.leg.hangup()
                track.close(now, "cancelled")
                legs = [track.doc]
            price_placed(deps, legs)
            record = CallRecord(
                call_id=self.call_id,
                tenant_id=self.tenant_id,
                number_called=self.number,
                caller=self.presented,
                direction="outbound",
                legs=legs,
                started_at=self.started_at,
                answered_at=track.doc.answered_at if track is not None else None,
                ended_at=now,
                disposition=disposition_of(legs=legs),
                hangup_reason=reason,
            )
            with contextlib.suppress(Exception):
                await deps.history.put_call(record)
            event(
                "caller_id_call_ended",
                self.call_id,
                self.tenant_id,
                reason=reason,
                disposition=record.disposition,
            )
