"""The SIP port (``port.py``) on baresip-python: one Runtime, one catch-all account.

Facts this adapter is built on (baresip-python 0.5.2a3, native baresip 4.x):

* baresip answers only its own account's user unless the account is a catch-all; the
  edge account is a raw AOR ``<sip:edge@HOST:PORT;transport=udp>;regint=0;catchall=yes;
  answermode=manual`` so any number reaches us, and we decide.
* ``max_concurrent_calls`` defaults to 2 in the binding; set explicitly (256).
  Over the limit baresip itself answers ``486 Max Calls``.
* Called-number headers reach Python only when allowlisted (``expose_headers``).
* ``Call.reject()`` can only send 486; rejects with other codes, the INVITE's packet
  source and its Request-URI come from ``_native.NativeBridge`` (see there).
* An INVITE whose SDP has no codec we support is answered ``488 Not Acceptable Here``
  by baresip itself, before Python hears of it (logged by the trace hook).
* The re-INVITE right after answering: see ``_ACCOUNT_EXTRA`` below.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Literal

from baresip import (
    AudioNotActive,
    AudioRestarted,
    BaresipError,
    CallBusy,
    CallDeclined,
    CallFailed,
    CallTimeout,
    Config,
    Event,
    Runtime,
    StaleHandleError,
    UserAgent,
)
from baresip.call import Call, CallState
from baresip.errors import split_status
from baresip.events import StackEvent
from baresip.stats import CallStats

from sip_edge.sip._native import InviteTrace, NativeBridge
from sip_edge.sip.dtmf import KeyDownDetector
from sip_edge.sip.port import (
    CallerId,
    DtmfEvent,
    InviteGone,
    InviteHandler,
    LegBusy,
    LegDeclined,
    LegEnded,
    LegFailed,
    LegNoAnswer,
    LegState,
    ListenAddress,
    RtpStats,
    SourceAddress,
    StackDraining,
    StackSettings,
)

log = logging.getLogger("sip_edge.sip")


def _answered_calls_only(record: logging.LogRecord) -> bool:
    """baresip logs a "call finished" line (quality figures) for every call it closes, a refused
    INVITE included: keep the lines of calls that carried media, so an INVITE flood does not
    become a log flood (EdgeCalls logs refusals, rate-limited per source)."""
    return getattr(record, "duration_s", 1) != 0 or getattr(record, "rx_packets", 1) != 0


logging.getLogger("baresip.call").addFilter(_answered_calls_only)

_WILDCARD = ("0.0.0.0", "::", "")  # "every address" as a bind address

# Why baresip sent a re-INVITE right after answering, which failed SIPp's plain UAC:
# for every inbound INVITE baresip allocates a video stream when the account has any
# video codec (the binding ships VP8), and records the "established" video direction
# as sendrecv. Answering audio-only (VIDMODE_OFF) frees the video stream but leaves
# that direction, so 50-150 ms after the ACK `set_established_mdir()` finds
# `call_need_modify()` true (video ldir "inactive" != estvdir "sendrecv") and sends a
# re-INVITE (`call: modify` in the native debug log). `video_codecs=none` in the
# account gives it no video codec, so no video stream and no re-INVITE. (The same
# check fires if the caller offers a=sendonly/recvonly: then our audio ldir differs
# from the established sendrecv. A plain caller offers sendrecv.)
_ACCOUNT_EXTRA = ";video_codecs=none"

_CODECS = "pcmu,pcma"
_USER_OK = re.compile(r"^[A-Za-z0-9+*#._~-]{1,64}$")
_URI_USER = re.compile(r"^\s*(?:\"[^\"]*\"\s*|[^<\"]*?)?<?\s*(?:sips?|tel):([^@;>?\s]+)", re.IGNORECASE)
_DISPLAY = re.compile(r'^\s*"((?:[^"\\]|\\.)*)"|^\s*([^<"]+?)\s*<')


def rtp_ports_config(ports: tuple[int, int] | None) -> str:
    """baresip's ``rtp_ports`` line for a range (both ends included), or nothing for its default
    (1024-49152). Each call takes a random even port for RTP and the next one for RTCP."""
    if ports is None:
        return ""
    low, high = ports
    return f"rtp_ports {low}-{high}\n"


def uri_user(value: str | None) -> str | None:
    """User part of a SIP URI or name-addr ('"Bob" <sip:+1555@h>;tag=x' -> '+1555')."""
    if not value:
        return None
    m = _URI_USER.match(value)
    return m.group(1) if m else None


def display_name(value: str | None) -> str | None:
    if not value:
        return None
    m = _DISPLAY.match(value)
    if not m:
        return None
    name = (m.group(1) if m.group(1) is not None else m.group(2) or "").strip()
    return name or None


def _stats(s: CallStats | None) -> RtpStats:
    if s is None:
        return RtpStats()
    return RtpStats(
        tx_packets=s.tx_packets,
        rx_packets=s.rx_packets,
        rx_lost=max(0, s.rx_lost),
        tx_lost=max(0, s.tx_lost),
        rx_jitter_ms=s.rx_jitter_ms,
        tx_jitter_ms=s.tx_jitter_ms,
        rtt_ms=s.rtt_ms,
        mos_estimate=s.mos_estimate if s.rx_packets else 0.0,
    )


class _Audio:
    """LegAudio over baresip's CallAudio: never raises, re-binds after renegotiation."""

    def __init__(self, call: Call) -> None:
        self._a = call.audio
        self._rate = 0
        self._ptime = 20

    def _probe(self) -> bool:
        try:
            info = self._a.info()
        except AudioNotActive:
            return False
        if info.tx_ready and info.rx_ready:
            self._rate = info.tx_sample_rate
            self._ptime = info.tx_ptime_ms or 20
            return True
        return False

    @property
    def ready(self) -> bool:
        return self._probe()

    @property
    def sample_rate(self) -> int:
        if not self._rate:
            self._probe()
        return self._rate

    @property
    def ptime_ms(self) -> int:
        return self._ptime

    def write(self, pcm16: bytes) -> int:
        try:
            return self._a.write(pcm16)
        except (AudioNotActive, AudioRestarted):
            return 0

    def read(self, max_bytes: int) -> bytes:
        try:
            return self._a.read(max_bytes)
        except (AudioNotActive, AudioRestarted):
            return b""

    def flush_tx(self) -> None:
        with contextlib.suppress(AudioNotActive, AudioRestarted):
            self._a.flush_tx()


_leg_seq = itertools.count(1)


class BaresipLeg:
    """port.Leg over one baresip Call."""

    def __init__(self, call: Call, direction: Literal["inbound", "outbound"]) -> None:
        self._call = call
        self._direction = direction
        self._leg_id = f"{direction[0]}{next(_leg_seq)}-{uuid.uuid4().hex[:8]}"
        self._audio = _Audio(call)
        self._ended: LegEnded | None = None
        self._ended_cbs: list[Callable[[LegEnded], None]] = []
        self._dtmf_cbs: list[Callable[[DtmfEvent], None]] = []
        self._hung_up_locally = False
        self._last_stats: CallStats | None = None
        self._answered = direction == "inbound"
        self._keys = KeyDownDetector()
        call.on(self._on_event)
        call.on_rtcp(self._on_rtcp)

    # -- properties --------------------------------------------------------------------

    @property
    def leg_id(self) -> str:
        return self._leg_id

    @property
    def sip_call_id(self) -> str | None:
        return self._call.call_id

    @property
    def direction(self) -> Literal["inbound", "outbound"]:
        return self._direction

    @property
    def remote_uri(self) -> str | None:
        return self._call.peer

    @property
    def state(self) -> LegState:
        st = self._call.state
        if self._ended is not None or st is CallState.CLOSED:
            return LegState.ENDED
        if st is CallState.ESTABLISHED or (self._direction == "inbound" and self._answered):
            return LegState.ESTABLISHED
        return LegState.RINGING if st is CallState.INCOMING else LegState.DIALING

    @property
    def audio(self) -> _Audio:
        return self._audio

    # -- events ------------------------------------------------------------------------

    def _on_event(self, ev: StackEvent) -> None:
        if ev.event is Event.CALL_DTMF_START or ev.event is Event.CALL_DTMF_END:
            # Digits go out at key-down (the stack's start report), not at key-up as the
            # binding's on_dtmf pairs them: see sip_edge/sip/dtmf.py.
            end = ev.event is Event.CALL_DTMF_END
            digit = self._keys.report(None if end else ev.text or None, end=end, now=time.monotonic())
            if digit is not None:
                self._on_digit(digit)
        elif ev.event is Event.CALL_ESTABLISHED:
            self._answered = True
        elif ev.event is Event.CALL_CLOSED and self._ended is None:
            status, _reason = split_status(ev.text or "")
            self._ended = LegEnded(reason=ev.text or "", status=status, local=self._hung_up_locally)
            log.info(
                "leg ended",
                extra={
                    "event": "sip_leg_ended",
                    "leg_id": self._leg_id,
                    "sip_call_id": self.sip_call_id,
                    "reason": ev.text,
                    "status": status,
                },
            )
            for cb in self._ended_cbs:
                try:
                    cb(self._ended)
                except Exception:
                    log.exception("on_ended callback raised", extra={"leg_id": self._leg_id})

    def _on_digit(self, digit: str) -> None:
        event = DtmfEvent(digit=digit)
        for cb in self._dtmf_cbs:
            try:
                cb(event)
            except Exception:
                log.exception("on_dtmf callback raised", extra={"leg_id": self._leg_id})

    def _on_rtcp(self, s: CallStats) -> None:
        self._last_stats = s

    def on_dtmf(self, callback: Callable[[DtmfEvent], None]) -> None:
        self._dtmf_cbs.append(callback)

    def on_ended(self, callback: Callable[[LegEnded], None]) -> None:
        self._ended_cbs.append(callback)
        if self._ended is not None:
            ended = self._ended
            asyncio.get_running_loop().call_soon(callback, ended)

    @property
    def ended(self) -> LegEnded | None:
        return self._ended

    # -- actions -----------------------------------------------------------------------

    async def wait_answered(self, timeout: float) -> None:
        if self._ended is not None and not self._answered:
            raise LegFailed(f"leg ended: {self._ended.reason}", status=self._ended.status)
        if self._direction == "inbound" or self._call.state is CallState.ESTABLISHED:
            return
        try:
            await self._call.wait_established(timeout)
        except CallTimeout:
            self._hung_up_locally = True
            raise LegNoAnswer(f"no answer within {timeout:g} s") from None
        except CallBusy as e:
            raise LegBusy(str(e), status=e.status, reason=e.reason) from None
        except CallDeclined as e:
            raise LegDeclined(str(e), status=e.status, reason=e.reason) from None
        except CallFailed as e:
            if e.status in (600,):
                raise LegBusy(str(e), status=e.status, reason=e.reason) from None
            if e.status in (408, 480, 487):
                raise LegNoAnswer(str(e), status=e.status, reason=e.reason) from None
            raise LegFailed(str(e), status=e.status, reason=e.reason) from None
        self._answered = True

    async def wait_media(self, timeout: float = 2.0) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._ended is None:
            if self._audio.ready:
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return False

    async def hangup(self) -> None:
        if self._ended is not None:
            return
        self._hung_up_locally = True
        with contextlib.suppress(StaleHandleError, BaresipError):
            await self._call.hangup()

    async def send_dtmf(self, digits: str) -> None:
        with contextlib.suppress(StaleHandleError):
            await self._call.send_dtmf(digits)

    def rtp_stats(self) -> RtpStats:
        return _stats(self._call.final_stats or self._last_stats)


class BaresipInvite:
    """port.InboundInvite over a baresip Call in INCOMING state."""

    def __init__(self, stack: BaresipStack, call: Call, trace: InviteTrace | None) -> None:
        self._stack = stack
        self._call = call
        self._trace = trace
        self._done = False
        self._early: BaresipLeg | None = None  # the leg of 183 early media, once sent
        hdrs = {k: v for k, v in (call.headers or {}).items()}
        self._headers = hdrs

    @property
    def call_id(self) -> str:
        return self._call.call_id or ""

    @property
    def request_uri_user(self) -> str | None:
        return uri_user(self._trace.request_uri) if self._trace else None

    @property
    def to_user(self) -> str | None:
        return uri_user(self._header("To"))

    @property
    def from_user(self) -> str | None:
        return uri_user(self._trace.from_value if self._trace else self._call.peer)

    @property
    def from_display(self) -> str | None:
        return display_name(self._trace.from_value) if self._trace else None

    @property
    def source(self) -> SourceAddress | None:
        t = self._trace
        if t is None:
            return None
        transport = t.transport if t.transport in ("udp", "tcp", "tls") else "udp"
        return SourceAddress(t.src_host, t.src_port, transport)  # type: ignore[arg-type]

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers

    @property
    def called_number(self) -> str | None:
        return self.request_uri_user or self.to_user

    def _header(self, name: str) -> str | None:
        for k, v in self._headers.items():
            if k.lower() == name.lower():
                return v
        return None

    async def answer(self) -> BaresipLeg:
        if self._done or self._call.state is CallState.CLOSED:
            raise InviteGone("the INVITE was cancelled before it was answered")
        self._done = True
        leg = BaresipLeg(self._call, "inbound")
        self._stack._track(leg)
        try:
            await self._call.answer()
        except (StaleHandleError, BaresipError) as e:
            raise InviteGone(f"could not answer: {e}") from None
        return leg

    async def progress(self) -> BaresipLeg:
        if self._done or self._call.state is CallState.CLOSED:
            raise InviteGone("the INVITE was cancelled before early media")
        if self._early is not None:
            return self._early
        leg = BaresipLeg(self._call, "inbound")
        self._stack._track(leg)
        if not await self._stack._bridge_progress(self.call_id):
            raise InviteGone("could not send 183 Session Progress")
        self._early = leg
        log.info("early media", extra={"event": "sip_early_media", "sip_call_id": self.call_id})
        return leg

    async def reject(self, status: int, reason: str) -> None:
        if not 300 <= status <= 699:
            raise ValueError(f"status must be 3xx-6xx, got {status}")
        if self._done:
            return
        self._done = True
        reason = re.sub(r"[\r\n]", " ", reason)[:100] or "Rejected"
        sent = await self._stack._bridge_reject(self.call_id, status, reason)
        # debug: one line per INVITE would let a flood flood the log; EdgeCalls logs each
        # decision (invite_answered, invite_rejected with its reason, rate-limited per source)
        log.debug(
            "invite rejected",
            extra={
                "event": "sip_invite_rejected",
                "sip_call_id": self.call_id,
                "status": status,
                "reason": reason,
                "sent": sent,
                "source": str(self.source) if self.source else None,
            },
        )


class BaresipStack:
    """port.SipStack on baresip-python. One per process (the Runtime is a singleton)."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self._settings = settings or StackSettings()
        self._runtime: Runtime | None = None
        self._bridge: NativeBridge | None = None
        self._edge_ua: UserAgent | None = None
        self._caller_uas: dict[tuple[str, str | None], UserAgent] = {}
        self._handler: InviteHandler | None = None
        self._legs: dict[str, BaresipLeg] = {}
        self._draining = False
        self._listen: ListenAddress | None = None
        self._listening = False
        self._host = "127.0.0.1"
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, listen: ListenAddress) -> None:
        self._listen = listen
        bind = self._settings.bind_address
        if bind in _WILDCARD:
            # baresip takes net_interface as an interface name or one of its addresses: a
            # wildcard matches none, and the stack would bind no SIP transport at all. Without
            # it, baresip binds sip_listen's port on each address it discovers on the host.
            bind = None
        if bind is None and listen.host not in _WILDCARD:
            bind = listen.host
        self._host = bind or listen.host
        config = Config(
            net_interface=bind,
            expose_headers=self._settings.expose_headers,
            max_concurrent_calls=self._settings.max_legs,
            rtp_timeout=self._settings.rtp_timeout_s,
            native_log_level=os.environ.get("SIP_EDGE_NATIVE_LOG", "warning"),
            # UDP and TCP only: baresip's default also binds TLS on port + 1, which
            # collides with whatever else holds that port (and we have no TLS cert).
            extra_config_text=f"sip_listen {listen.host}:{listen.port}\nsip_transports udp,tcp\n"
            + rtp_ports_config(self._settings.rtp_ports),
        )
        self._runtime = Runtime()
        await self._runtime.start(config)
        self._bridge = NativeBridge(self._runtime)
        await self._bridge.install()
        # One catch-all account per transport: baresip matches an inbound request to
        # an account by Request-URI *and* transport, so a udp-only catch-all leaves a
        # TCP INVITE with no account, and baresip itself answers it 404.
        for transport in ("udp", "tcp"):
            aor = (
                f"<sip:edge@{self._host}:{listen.port};transport={transport}>;regint=0;catchall=yes;"
                f"answermode=manual;audio_codecs={_CODECS};dtmfmode=rtpevent{_ACCOUNT_EXTRA}"
            )
            ua = await UserAgent.create(self._runtime, aor)
            ua.on_incoming(self._on_incoming)
            if transport == "udp":
                self._edge_ua = ua
        self._listening = True
        log.info(
            "sip stack started",
            extra={"event": "sip_started", "listen": f"{listen.host}:{listen.port}"},
        )

    def on_invite(self, handler: InviteHandler) -> None:
        self._handler = handler

    @property
    def active_legs(self) -> int:
        return len(self._legs)

    @property
    def listening(self) -> bool:
        """The SIP transports (UDP and TCP) are bound and their accounts take INVITEs."""
        return self._listening and self._runtime is not None

    async def drain(self, timeout: float) -> None:
        self._draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._legs and loop.time() < deadline:
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        self._draining = True
        self._listening = False
        for leg in list(self._legs.values()):
            await leg.hangup()
        if self._bridge is not None:
            self._bridge.uninstall()
        if self._runtime is not None:
            await self._runtime.close()
            self._runtime = None

    # -- inbound -----------------------------------------------------------------------

    def _on_incoming(self, call: Call) -> None:
        trace = self._bridge.take_trace(call.call_id or "") if self._bridge else None
        invite = BaresipInvite(self, call, trace)
        log.debug(  # per INVITE: see sip_invite_rejected
            "invite received",
            extra={
                "event": "sip_invite",
                "sip_call_id": invite.call_id,
                "called": invite.called_number,
                "caller": invite.from_user,
                "source": str(invite.source) if invite.source else None,
            },
        )
        if self._draining or self._handler is None:
            self._spawn(invite.reject(503, "Service Unavailable"))
            return
        self._spawn(self._dispatch(invite))

    async def _dispatch(self, invite: BaresipInvite) -> None:
        assert self._handler is not None
        try:
            result = self._handler(invite)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result
        except Exception:
            log.exception(
                "invite handler failed", extra={"event": "sip_handler_error", "sip_call_id": invite.call_id}
            )
            await invite.reject(500, "Server Internal Error")

    def _spawn(self, coro) -> None:  # type: ignore[no-untyped-def]
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bridge_progress(self, call_id: str) -> bool:
        if self._bridge is None:
            return False
        return await self._bridge.progress(call_id)

    async def _bridge_reject(self, call_id: str, status: int, reason: str) -> bool:
        if self._bridge is None:
            return False
        return await self._bridge.reject(call_id, status, reason)

    def _track(self, leg: BaresipLeg) -> None:
        self._legs[leg.leg_id] = leg
        leg.on_ended(lambda _e, lid=leg.leg_id: self._legs.pop(lid, None))

    # -- outbound ----------------------------------------------------------------------

    async def _ua_for(self, caller_id: CallerId | None) -> UserAgent:
        assert self._edge_ua is not None and self._runtime is not None and self._listen is not None
        if caller_id is None or not _USER_OK.match(caller_id.number):
            return self._edge_ua
        display = caller_id.display_name
        if display is not None:
            display = re.sub(r'["\\\r\n<>]', "", display)[:64] or None
        key = (caller_id.number, display)
        ua = self._caller_uas.get(key)
        if ua is not None:
            return ua
        if len(self._caller_uas) >= 256:
            # UAs cannot be freed in this binding; past the cap, From stays "edge" and
            # only P-Asserted-Identity carries the caller.
            return self._edge_ua
        name = f'"{display}" ' if display else ""
        aor = (
            f"{name}<sip:{caller_id.number}@{self._host}:{self._listen.port};transport=udp>;"
            f"regint=0;answermode=manual;audio_codecs={_CODECS};dtmfmode=rtpevent{_ACCOUNT_EXTRA}"
        )
        ua = await UserAgent.create(self._runtime, aor)
        ua.on_incoming(self._on_incoming)  # a call to this number would land on this UA
        self._caller_uas[key] = ua
        return ua

    async def dial(
        self,
        uri: str,
        *,
        headers: Mapping[str, str] | None = None,
        caller_id: CallerId | None = None,
    ) -> BaresipLeg:
        if self._draining:
            raise StackDraining("the stack is draining")
        ua = await self._ua_for(caller_id)
        hdrs = dict(headers or {})
        if caller_id is not None and "P-Asserted-Identity" not in hdrs:
            hdrs["P-Asserted-Identity"] = f"<sip:{caller_id.number}@{self._host}>"
        try:
            call = await ua.dial(uri, hdrs or None)
        except BaresipError as e:
            raise LegFailed(f"dial failed: {e}") from None
        leg = BaresipLeg(call, "outbound")
        self._track(leg)
        log.info(
            "dialled",
            extra={"event": "sip_dial", "leg_id": leg.leg_id, "uri": uri, "sip_call_id": call.call_id},
        )
        return leg
