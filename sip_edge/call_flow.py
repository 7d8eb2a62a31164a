"""One inbound call, from answer to call record: the orchestrator around the pure IVR.

`InboundCall.run()` answers nothing itself: the service hands it an answered caller `Leg`. It
feeds the `IvrSession` the call's events (digits, prompt ends, timer expiries, forward results,
hang-ups) through one asyncio queue, and performs the commands the session returns with the
ports in `EdgeDeps`: the media engine plays and records, the SIP stack dials the forwarded legs,
the uploader stores voicemail and recordings, the History DB receives the record.

Every log line is one JSON event carrying `call_id` and `tenant_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from shared.directory.models.tenant import Tenant
from shared.directory.models.user import RingStrategy, User
from shared.history.models.call import ActivityItem, CallRecord, LegOutcome, LegPrice, PathStep
from shared.history.models.call import Leg as LegDoc
from shared.logs import log_event
from shared.notifications.models import CALL_ENDED_QUEUE
from shared.notifications.services.notify import missed_activity, voicemail_activity
from shared.ports import Clock, MessageBus
from shared.values import EntryPoint
from sip_edge import ivr
from sip_edge.directory import TenantDirectory
from sip_edge.media import dsp
from sip_edge.media.engine import MediaEngine, MediaLeg, Playback
from sip_edge.media.recorder import CallRecorder, StopReason, VoicemailRecorder
from sip_edge.metrics import EdgeMetrics
from sip_edge.quality import disposition_of, quality_of
from sip_edge.shares import TenantShares
from sip_edge.sip.port import CallerId, Leg, LegBusy, LegDeclined, LegEnded, LegFailed, LegNoAnswer, SipStack

log = logging.getLogger("sip_edge.call")

PROMPT_RATE = 8000
VOICEMAIL_MAX_S = 180.0
VOICEMAIL_SILENCE_S = 10.0
VOICEMAIL_MIN_S = 1.0
RECORDING_CLOSE_S = 30.0  # the recording's last write, header and fsync, on the flusher thread


# --------------------------------------------------------------------------- ports


class PromptSource(Protocol):
    """The audio a call plays (`sip_edge.announcements.EdgePrompts` over the prompt cache).

    Never raises: a tenant's prompt that is missing, not converted yet or unreachable is None (the
    caller hears a chime instead), and an unknown announcement name plays a fallback. Reading has
    no side effects beyond the cache.
    """

    async def tenant_prompt(self, tenant_id: str, prompt_id: str) -> bytes | None:
        """8 kHz mono PCM of a tenant's prompt, None when it is missing or not ready."""
        ...

    def system(self, name: str) -> bytes:
        """8 kHz mono PCM of a built-in announcement (beep, goodbye, ...)."""
        ...


class UploadSpool(Protocol):
    """Where a call's recordings and voicemails go (`sip_edge.media.uploader.SpoolingUploader`):
    written to a local spool first, then uploaded to Blob, retried until it is.

    `submit` never raises for a storage outage (False: kept in the spool for the retry loop);
    `ValueError` for an invalid container or blob name. Submitting the same name again overwrites
    the spooled file and the blob (idempotent for the same data).
    """

    async def submit(self, container: str, name: str, data: bytes, content_type: str | None = None) -> bool:
        """Spool `data` for Blob `container/name` and try the upload (False: kept for a retry)."""
        ...

    def live_path(self, container: str, name: str) -> Path:
        """Where a recording being made is written (recovered and uploaded after a crash)."""
        ...

    async def adopt(self, container: str, name: str, path: Path) -> bool:
        """Spool the finished file at `path` for Blob `container/name` and try the upload."""
        ...


class LegPricer(Protocol):
    def price(self, leg: LegDoc) -> LegPrice | None:
        """The leg's price by the rate table in force; None when no table or no prefix matches."""
        ...


class CallHistory(Protocol):
    async def put_call(self, record: CallRecord) -> bool: ...

    async def add_activity(self, item: ActivityItem) -> bool: ...


@dataclass
class EdgeDeps:
    """Everything a call needs, built once by the service."""

    stack: SipStack
    engine: MediaEngine
    directory: TenantDirectory
    prompts: PromptSource
    media: UploadSpool
    history: CallHistory
    bus: MessageBus
    metrics: EdgeMetrics
    clock: Clock
    provider: str
    caller_id_policy: str = "pass_through"
    rates: LegPricer | None = None  # None: legs are not priced
    shares: TenantShares | None = None  # None: no per-tenant cap on legs


def price_placed(deps: EdgeDeps, legs: list[LegDoc]) -> None:
    """Set `price` on the answered legs the edge placed through the provider (forwards and the
    click-to-call first leg), by the rate table in force. Unanswered legs and destinations
    without a matching prefix stay unpriced; a pricing error never loses the call record."""
    if deps.rates is None:
        return
    for doc in legs:
        if doc.kind == "caller" or doc.answered_at is None or doc.ended_at is None:
            continue
        try:
            doc.price = deps.rates.price(doc)
        except Exception as exc:  # the record must still be written
            log_event(log, "leg_price_failed", logging.WARNING, leg_id=doc.leg_id, error=repr(exc))


def event(name: str, call_id: str, tenant_id: str | None, **fields: Any) -> None:
    log_event(log, name, call_id=call_id, tenant_id=tenant_id, **fields)


def new_id() -> str:
    return uuid.uuid4().hex


def outcome_of(exc: BaseException) -> tuple[LegOutcome, int | None]:
    if isinstance(exc, LegBusy):
        return "busy", exc.status or 486
    if isinstance(exc, LegDeclined):
        return "declined", exc.status or 603
    if isinstance(exc, LegNoAnswer):
        return "no_answer", exc.status
    if isinstance(exc, LegFailed):
        return "failed", exc.status
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled", 487
    return "failed", None


# --------------------------------------------------------------------------- legs


@dataclass
class LegTrack:
    """A SIP leg of this call and the document that will describe it."""

    leg: Leg
    doc: LegDoc
    media: MediaLeg | None = None

    def close(self, now: dt.datetime, outcome: LegOutcome | None = None, status: int | None = None) -> None:
        if self.doc.ended_at is None:
            self.doc.ended_at = now
        if outcome is not None and self.doc.outcome is None:
            self.doc.outcome = outcome
        if status is not None and self.doc.sip_status is None:
            self.doc.sip_status = status
        stats = self.leg.rtp_stats()
        expected = stats.rx_packets + stats.rx_lost
        if stats.rx_packets or stats.tx_packets:
            self.doc.quality = quality_of(stats.rx_packets, stats.tx_packets, expected, stats.rx_jitter_ms)


async def dial_out(
    deps: EdgeDeps,
    number: str,
    *,
    caller_id: CallerId | None,
    ring_timeout_s: float,
    kind: str,
    call_id: str,
    tenant_id: str,
) -> LegTrack:
    """Dial `number` through the provider and wait for the answer. Raises what `wait_answered`
    raises (LegBusy, LegNoAnswer, ...) after recording the outcome on the returned track's doc,
    which the caller gets through the exception's `track` attribute. A tenant whose share of the
    edge's legs is in use gets `LegFailed` (503) before anything is dialled."""
    now = deps.clock.now()
    give_back = deps.shares.leg(tenant_id, call_id) if deps.shares is not None else None
    if deps.shares is not None and give_back is None:
        event("leg_refused", call_id, tenant_id, destination=number, why="tenant_share")
        raise LegFailed("the tenant's share of the edge's legs is in use", status=503, reason="tenant share")
    try:
        leg = await deps.stack.dial(
            f"sip:{number}@{deps.provider}", caller_id=caller_id, headers={"X-Call-Id": call_id}
        )
    except BaseException:
        if give_back is not None:
            give_back()
        raise
    if give_back is not None:
        leg.on_ended(lambda _e: give_back())
    track = LegTrack(leg, LegDoc(leg_id=leg.leg_id, kind=kind, destination=number, started_at=now))  # type: ignore[arg-type]
    event("leg_dialing", call_id, tenant_id, leg_id=leg.leg_id, destination=number, timeout_s=ring_timeout_s)
    try:
        await leg.wait_answered(ring_timeout_s)
    except BaseException as exc:
        outcome, status = outcome_of(exc)
        with contextlib.suppress(Exception):
            await leg.hangup()
        track.close(deps.clock.now(), outcome, status)
        event("leg_failed", call_id, tenant_id, leg_id=leg.leg_id, outcome=outcome, status=status)
        exc.track = track  # type: ignore[attr-defined]
        raise
    track.doc.answered_at = deps.clock.now()
    track.doc.outcome = "answered"
    track.doc.sip_status = 200
    event("leg_answered", call_id, tenant_id, leg_id=leg.leg_id, destination=number)
    return track


async def ring_in_turn(
    deps: EdgeDeps,
    numbers: tuple[str, ...],
    strategy: RingStrategy,
    ring_timeout_s: float,
    *,
    caller_id: CallerId | None,
    call_id: str,
    tenant_id: str,
    placed: list[LegTrack],
) -> LegTrack | None:
    """Ring `numbers` one after another (or all at once) and return the first leg that answers,
    or None. Every leg placed is appended to `placed`, with its outcome."""

    async def one(number: str) -> LegTrack:
        try:
            track = await dial_out(
                deps,
                number,
                caller_id=caller_id,
                ring_timeout_s=ring_timeout_s,
                kind="forward",
                call_id=call_id,
                tenant_id=tenant_id,
            )
        except BaseException as exc:
            track = getattr(exc, "track", None)
            if track is not None:
                placed.append(track)
            raise
        placed.append(track)
        return track

    if strategy is RingStrategy.SEQUENTIAL:
        for number in numbers:
            try:
                return await one(number)
            except (LegFailed, Exception):
                continue
        return None
    tasks = [asyncio.ensure_future(one(n)) for n in numbers]
    try:
        for next_done in asyncio.as_completed(tasks):
            try:
                return await next_done
            except (LegFailed, Exception):
                continue
        return None
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --------------------------------------------------------------------------- the call


@dataclass
class InboundCall:
    deps: EdgeDeps
    tenant: Tenant
    number_called: str
    caller: str | None
    entry: EntryPoint
    caller_leg: Leg
    call_id: str = field(default_factory=new_id)
    direction: str = "inbound"

    def __post_init__(self) -> None:
        self.tenant_id = self.tenant.id
        self.started_at = self.deps.clock.now()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=1000)
        self.view = self.deps.directory.tenant_view(self.tenant_id)
        self.session = ivr.IvrSession(self.view, self.tenant_id, self.entry)
        self.caller_track = LegTrack(
            self.caller_leg,
            LegDoc(
                leg_id=self.caller_leg.leg_id,
                kind="caller",
                destination=self.number_called,
                started_at=self.started_at,
                answered_at=self.started_at,
                outcome="answered",
                sip_status=200,
            ),
        )
        self.placed: list[LegTrack] = []
        self.bridged: LegTrack | None = None
        self.media: MediaLeg | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.recorder: VoicemailRecorder | None = None
        self.voicemail_blob: str | None = None
        self.voicemail_seconds: float | None = None
        self.recording_blob: str | None = None
        self.recording_sink: CallRecorder | None = None
        self.hangup_reason: str | None = None
        self.failed = False
        self.done = asyncio.Event()

    # -- events in

    def post(self, kind: str, arg: Any = None) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait((kind, arg))

    def info(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "tenant_id": self.tenant_id,
            "direction": self.direction,
            "caller": self.caller,
            "number_called": self.number_called,
            "user_id": self.session.user.id if self.session.user else None,
            "state": self.session.state,
            "started_at": self.started_at.isoformat().replace("+00:00", "Z"),
        }

    async def hangup(self, reason: str = "hangup_requested") -> None:
        self.post("hangup", reason)

    # -- main loop

    async def run(self) -> CallRecord:
        loop = asyncio.get_running_loop()
        self.caller_leg.on_ended(lambda ended: loop.call_soon_threadsafe(self.post, "caller_ended", ended))
        self.caller_leg.on_dtmf(lambda d: loop.call_soon_threadsafe(self.post, "digit", d.digit))
        try:
            await self.caller_leg.wait_media(2.0)
            self.media = self.deps.engine.attach(self.caller_leg.audio, leg_id=self.caller_leg.leg_id)
            event(
                "call_started",
                self.call_id,
                self.tenant_id,
                caller=self.caller,
                called=self.number_called,
                entry=self.entry.model_dump(),
            )
            await self.perform(self.session.start())
            while not self.session.ended:
                kind, arg = await self.queue.get()
                await self.perform(self.dispatch(kind, arg))
        except Exception:
            self.failed = True
            log.exception("call_error", extra={"call_id": self.call_id, "tenant_id": self.tenant_id})
            with contextlib.suppress(Exception):
                await self.perform(self.session.hangup("edge_error"))
        finally:
            record = await self.finish()
            self.done.set()
        return record

    def dispatch(self, kind: str, arg: Any) -> list[ivr.Command]:
        s = self.session
        if kind == "digit":
            event("dtmf", self.call_id, self.tenant_id, digit=arg, state=s.state)
            return s.digit(arg)
        if kind == "played":
            return s.prompt_finished(arg)
        if kind == "timer":
            return s.timeout(arg)
        if kind == "answered":
            return s.leg_answered()
        if kind == "forward_failed":
            return s.leg_failed(arg)
        if kind == "caller_ended":
            self.hangup_reason = self.hangup_reason or "caller_hangup"
            return s.hangup("caller_hangup")
        if kind in ("callee_ended", "voicemail_done", "hangup"):
            self.hangup_reason = self.hangup_reason or (arg if kind == "hangup" else kind)
            return s.hangup(self.hangup_reason)
        return []

    async def perform(self, commands: list[ivr.Command]) -> None:
        for cmd in commands:
            await self.do(cmd)

    async def do(self, cmd: ivr.Command) -> None:
        assert self.media is not None
        match cmd:
            case ivr.PlayPrompt(prompt_id=pid, text=text, interruptible=intr, play_id=play_id):
                pcm = await self.prompt_pcm(pid, text)
                self.play(pcm, intr, play_id)
            case ivr.PlayAnnouncement(name=name, interruptible=intr, play_id=play_id):
                self.play(self.deps.prompts.system(name), intr, play_id)
            case ivr.StopPlayback():
                self.media.stop_playback()
            case ivr.StartTimer(seconds=seconds, timer_id=timer_id):
                self.cancel_timer()
                self.timer = asyncio.get_running_loop().call_later(seconds, self.post, "timer", timer_id)
            case ivr.CancelTimer():
                self.cancel_timer()
            case ivr.ConnectUser(user=user, numbers=numbers, strategy=strategy, ring_timeout_s=timeout):
                self.push_incoming(user)
                self.spawn(self.connect(numbers, strategy, timeout, user))
            case ivr.ForwardExternal(number=number, ring_timeout_s=timeout):
                self.spawn(self.connect((number,), RingStrategy.SEQUENTIAL, timeout, None))
            case ivr.StartVoicemail(user=user):
                self.spawn(self.voicemail(user))
            case ivr.EndVoicemail():
                if self.recorder is not None:
                    self.recorder.stop()
            case ivr.CollectExtension():
                pass
            case ivr.Hangup(reason=reason):
                self.hangup_reason = self.hangup_reason or reason
                await self.caller_leg.hangup()

    # -- helpers

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def play(self, pcm: bytes, interruptible: bool, play_id: int) -> Playback:
        assert self.media is not None
        pb = self.media.play(pcm, rate=PROMPT_RATE, interruptible=interruptible)
        loop = asyncio.get_running_loop()
        pb.future.add_done_callback(lambda _f: loop.call_soon_threadsafe(self.post, "played", play_id))
        return pb

    async def prompt_pcm(self, prompt_id: str | None, text: str | None) -> bytes:
        if prompt_id is not None:
            pcm = await self.deps.prompts.tenant_prompt(self.tenant_id, prompt_id)
            if pcm:
                return pcm
            event("prompt_missing", self.call_id, self.tenant_id, prompt_id=prompt_id)
        # No text-to-speech yet: a spoken greeting is a neutral chime the caller can press over.
        return self.deps.prompts.system("greeting")

    def caller_id_for_forward(self) -> CallerId | None:
        if self.deps.caller_id_policy == "called_number":
            return CallerId(self.number_called)
        return CallerId(self.caller) if self.caller else None

    def push_incoming(self, user: User) -> None:
        devices = self.view.devices(self.tenant_id, user.id) if hasattr(self.view, "devices") else []
        if not devices:
            return
        body = {
            "type": "incoming_call",
            "tenant_id": self.tenant_id,
            "user_id": user.id,
            "call_id": self.call_id,
            "caller": self.caller,
            "number_called": self.number_called,
            "devices": [d.id for d in devices],
        }
        self.spawn(self.send_quietly("push", body, f"{self.call_id}:incoming_call:{user.id}"))

    async def send_quietly(self, queue: str, body: dict[str, Any], message_id: str) -> None:
        try:
            await self.deps.bus.send(queue, body, message_id)
        except Exception as exc:
            event("queue_send_failed", self.call_id, self.tenant_id, queue=queue, error=str(exc))

    # -- forwarding and the bridge

    async def connect(
        self, numbers: tuple[str, ...], strategy: RingStrategy, timeout: float, user: User | None
    ) -> None:
        assert self.media is not None
        ringing = self.media.play(ringback(), rate=PROMPT_RATE)
        track = await ring_in_turn(
            self.deps,
            numbers,
            strategy,
            timeout,
            caller_id=self.caller_id_for_forward(),
            call_id=self.call_id,
            tenant_id=self.tenant_id,
            placed=self.placed,
        )
        ringing.interrupt()
        if track is None:
            outcome = self.placed[-1].doc.outcome if self.placed else "failed"
            self.post("forward_failed", outcome if outcome != "cancelled" else "no_answer")
            return
        if self.session.ended or self.caller_leg.ended is not None:
            await track.leg.hangup()
            track.close(self.deps.clock.now())
            return
        self.bridged = track
        await track.leg.wait_media(2.0)
        track.media = self.deps.engine.attach(track.leg.audio, leg_id=track.leg.leg_id)
        mix: CallRecorder | None = None
        if (user is not None and user.recording_enabled) or self.tenant.recording_enabled:
            spool = self.deps.media.live_path("recordings", f"{self.tenant_id}/{self.call_id}.wav")
            mix = self.recording_sink = CallRecorder(spool=spool)
        self.deps.engine.bridge(self.media, track.media, mix_sink=mix)
        loop = asyncio.get_running_loop()
        track.leg.on_ended(lambda _e: loop.call_soon_threadsafe(self.post, "callee_ended"))
        event("bridged", self.call_id, self.tenant_id, leg_id=track.leg.leg_id, recording=mix is not None)
        self.post("answered")

    # -- voicemail

    async def voicemail(self, user: User) -> None:
        assert self.media is not None
        await self.media.play(self.deps.prompts.system("voicemail_greeting"), rate=PROMPT_RATE)
        await self.media.play(self.deps.prompts.system("beep"), rate=PROMPT_RATE, interruptible=False)
        if self.caller_leg.ended is not None:
            self.post("voicemail_done")
            return
        self.recorder = VoicemailRecorder(
            max_s=VOICEMAIL_MAX_S, silence_s=VOICEMAIL_SILENCE_S, min_s=VOICEMAIL_MIN_S
        )
        tap = self.media.record(self.recorder)
        event("voicemail_recording", self.call_id, self.tenant_id, user_id=user.id)
        result = await self.recorder
        tap.remove()
        if result.wav is None:
            event(
                "voicemail_discarded",
                self.call_id,
                self.tenant_id,
                user_id=user.id,
                seconds=round(result.duration_s, 2),
                why="too_short",
            )
        else:
            name = f"{self.tenant_id}/{user.id}/{new_id()}.wav"
            await self.deps.media.submit("voicemail", name, result.wav)
            self.voicemail_blob = f"voicemail/{name}"
            self.voicemail_seconds = round(result.duration_s, 2)
            event(
                "voicemail_kept",
                self.call_id,
                self.tenant_id,
                user_id=user.id,
                blob=self.voicemail_blob,
                seconds=self.voicemail_seconds,
                ended_by=result.reason.value,
            )
        self.post("voicemail_done")

    # -- the end

    async def finish(self) -> CallRecord:
        self.cancel_timer()
        for task in list(self.tasks):
            if self.recorder is not None and not task.done() and self.voicemail_blob is None:
                # let the voicemail task keep what was recorded before the hang-up
                self.recorder.stop(StopReason.HANGUP)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(task), 5.0)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        now = self.deps.clock.now()
        with contextlib.suppress(Exception):
            await self.caller_leg.hangup()
        for track in self.placed:
            with contextlib.suppress(Exception):
                await track.leg.hangup()
            track.close(now, "cancelled")
            if track.media is not None:
                track.media.detach("call_ended")
        self.caller_track.close(now)
        if self.media is not None:
            self.media.detach("call_ended")
        if self.recording_sink is not None:
            await self.store_recording()
        legs = [self.caller_track.doc, *(t.doc for t in self.placed)]
        price_placed(self.deps, legs)
        user = self.session.user
        answered_at = self.bridged.doc.answered_at if self.bridged else None
        record = CallRecord(
            call_id=self.call_id,
            tenant_id=self.tenant_id,
            number_called=self.number_called,
            caller=self.caller,
            direction=self.direction,  # type: ignore[arg-type]
            path=list(self.session.path),
            legs=legs,
            started_at=self.started_at,
            answered_at=answered_at,
            ended_at=now,
            disposition=disposition_of(
                legs=legs,
                failed=self.failed,
                voicemail_blob=self.voicemail_blob,
                hangup_reason=self.session.hangup_reason,
                for_user=user is not None,
            ),
            user_id=user.id if user else None,
            voicemail_blob=self.voicemail_blob,
            recording_blob=self.recording_blob,
            hangup_reason=self.session.hangup_reason or self.hangup_reason,
        )
        await self.write(record, user)
        self.deps.metrics.calls.labels(record.disposition).inc()
        event(
            "call_ended",
            self.call_id,
            self.tenant_id,
            disposition=record.disposition,
            reason=record.hangup_reason,
            path=[p.model_dump() for p in record.path],
            seconds=round((now - self.started_at).total_seconds(), 3),
        )
        return record

    async def store_recording(self) -> None:
        assert self.recording_sink is not None
        self.recording_sink.stop("call_ended")
        recording = await asyncio.wait_for(self.recording_sink, RECORDING_CLOSE_S)
        name = f"{self.tenant_id}/{self.call_id}.wav"
        if recording.duration_s < 1.0:
            if recording.path is not None:
                await asyncio.to_thread(recording.path.unlink, missing_ok=True)
            return
        if recording.path is not None:
            await self.deps.media.adopt("recordings", name, recording.path)
        elif recording.wav is not None:
            await self.deps.media.submit("recordings", name, recording.wav)
        self.recording_blob = f"recordings/{name}"

    async def write(self, record: CallRecord, user: User | None) -> None:
        try:
            await self.deps.history.put_call(record)
            if user is not None and record.disposition in ("voicemail", "missed"):
                await self.deps.history.add_activity(activity_for(record, user.id, self.voicemail_seconds))
            # the functions fan out what the user asked for (missed-call SMS, push, email)
            message = {"tenant_id": record.tenant_id, "call_id": record.call_id}
            await self.send_quietly(CALL_ENDED_QUEUE, message, f"{record.call_id}:call-ended")
        except Exception as exc:
            event("history_write_failed", self.call_id, self.tenant_id, error=str(exc))


def activity_for(record: CallRecord, user_id: str, voicemail_seconds: float | None) -> ActivityItem:
    """The feed item a finished call leaves for its user: a voicemail or a missed call."""
    if record.disposition == "voicemail":
        return voicemail_activity(record, user_id, voicemail_seconds)
    return missed_activity(record, user_id)


_ringback: bytes | None = None


def ringback(cycles: int = 20) -> bytes:
    """What the caller hears while a forward rings: North American ringback (440+480 Hz,
    2 s on, 4 s off), built once per process."""
    global _ringback
    if _ringback is None:
        _ringback = dsp.tone_sequence([((440.0, 480.0), 2000.0), (0.0, 4000.0)], PROMPT_RATE, amplitude=0.2)
    return _ringback * cycles


__all__ = ["EdgeDeps", "InboundCall", "LegEnded", "PathStep", "activity_for", "dial_out", "ring_in_turn"]
