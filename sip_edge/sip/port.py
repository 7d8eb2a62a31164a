"""The SIP signalling port: what the edge needs from a SIP/RTP stack, and nothing more.

Independent of baresip (see ``baresip_stack.py`` for the adapter), so a pjsua2 build
could replace it. Everything here is asyncio-facing: methods are awaited on the event
loop that started the stack, callbacks are invoked on that loop. The only exception is
:class:`LegAudio`, which is non-blocking and safe to use from one pacing thread per leg.

Shape of a call::

    stack.on_invite(handle)              # handle(invite) is called per inbound INVITE
    await stack.start(ListenAddress("0.0.0.0", 5060))
    ...
    async def handle(invite: InboundInvite):
        if invite.source and invite.source.host not in trunk:
            await invite.reject(403, "Forbidden")
            return
        leg = await invite.answer()          # 200 OK; ACK and media follow
        leg.on_dtmf(lambda d: ...)
        leg.on_ended(lambda e: ...)
        await leg.wait_media(2.0)
        leg.audio.write(pcm16)               # from a pacing thread, one ptime at a time

    out = await stack.dial("sip:+15551230000@provider:5060", caller_id=CallerId("+15550001111"))
    try:
        await out.wait_answered(timeout=25)
    except LegBusy: ...
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

# -- values ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenAddress:
    """Where the stack listens for SIP. Both UDP and TCP are bound on host:port."""

    host: str = "0.0.0.0"
    port: int = 5060


@dataclass(frozen=True)
class SourceAddress:
    """The network address an INVITE arrived from (the packet's source, not its Via)."""

    host: str
    port: int
    transport: Literal["udp", "tcp", "tls"] = "udp"

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class CallerId:
    """The calling identity presented on an outbound leg (From user and display name)."""

    number: str
    display_name: str | None = None


class LegState(enum.Enum):
    """Where a leg is in its life."""

    RINGING = "ringing"  # inbound, not yet answered
    DIALING = "dialing"  # outbound, INVITE sent, no final answer yet
    ESTABLISHED = "established"
    ENDED = "ended"


@dataclass(frozen=True)
class DtmfEvent:
    """One key the far end pressed, reported once, at key-down (the first report of the
    event: ``sip_edge/sip/dtmf.py``), so an IVR can act while the key is still held.

    RFC 4733 telephone-events and SIP INFO (application/dtmf-relay) both arrive here;
    the stack does not say which carried the key.
    """

    digit: str  # 0-9, *, #, A-D


@dataclass(frozen=True)
class LegEnded:
    """Why a leg ended, delivered once to ``on_ended`` callbacks.

    ``status`` is the SIP status when one was involved (e.g. 486 for a busy outbound leg,
    None for a normal BYE); ``reason`` is the stack's text ("Connection reset by peer",
    "Rejected by user", "486 Busy Here", ...). ``local`` is True when we ended it.
    """

    reason: str
    status: int | None = None
    local: bool = False


@dataclass(frozen=True)
class RtpStats:
    """Media quality of one leg. RTCP-derived fields trail by one report interval."""

    tx_packets: int = 0
    rx_packets: int = 0
    rx_lost: int = 0  # packets the far end sent that never reached us
    tx_lost: int = 0  # packets we sent that the far end reported lost
    rx_jitter_ms: float = 0.0
    tx_jitter_ms: float = 0.0
    rtt_ms: float = 0.0
    mos_estimate: float = 0.0  # simplified E-model, 1.0-4.4 for G.711; 0.0 when no media


# -- errors ----------------------------------------------------------------------------


class SipError(Exception):
    """Base of the port's errors."""


class LegFailed(SipError):
    """An outbound leg ended without being answered. ``status`` is the SIP status, if any."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class LegBusy(LegFailed):
    """486 Busy Here / 600 Busy Everywhere."""


class LegDeclined(LegFailed):
    """603 Decline (or 403 from a phone that refused the call)."""


class LegNoAnswer(LegFailed):
    """Not answered within the timeout (the leg was cancelled), or 408/480 from the far end."""


class StackDraining(SipError):
    """The stack is draining: no new legs may be dialled."""


class InviteGone(SipError):
    """The INVITE was cancelled (or otherwise ended) before it could be answered/rejected."""


# -- protocols -------------------------------------------------------------------------


@runtime_checkable
class LegAudio(Protocol):
    """A leg's PCM: signed 16-bit little-endian mono at :attr:`sample_rate`.

    Non-blocking: ``write`` queues what fits and returns the bytes taken; ``read``
    returns what has arrived (``b""`` when nothing). The stack's own clock sends
    silence when the transmit buffer runs dry. Until media is up (see
    :meth:`Leg.wait_media`), ``ready`` is False, ``write`` returns 0 and ``read``
    returns ``b""``; after the leg ended the same holds — neither raises.
    """

    @property
    def ready(self) -> bool: ...

    @property
    def sample_rate(self) -> int:
        """Negotiated rate in Hz (8000 for G.711, 48000 for opus); 0 until ready."""
        ...

    @property
    def ptime_ms(self) -> int:
        """Transmit packet time: the natural write pace (20 ms typically)."""
        ...

    def write(self, pcm16: bytes) -> int: ...

    def read(self, max_bytes: int) -> bytes: ...

    def flush_tx(self) -> None:
        """Drop written-but-unsent audio (barge-in). At most one ptime still goes out."""
        ...


@runtime_checkable
class Leg(Protocol):
    """One SIP dialog with media: an answered inbound call or a dialled outbound one."""

    @property
    def leg_id(self) -> str:
        """Stable id for logs and records (unique within the process)."""
        ...

    @property
    def sip_call_id(self) -> str | None: ...

    @property
    def direction(self) -> Literal["inbound", "outbound"]: ...

    @property
    def remote_uri(self) -> str | None: ...

    @property
    def state(self) -> LegState: ...

    @property
    def audio(self) -> LegAudio: ...

    @property
    def ended(self) -> LegEnded | None:
        """How the leg ended; None while it lives."""
        ...

    async def wait_answered(self, timeout: float) -> None:
        """Outbound: wait for 200 OK. Raises LegBusy / LegDeclined / LegNoAnswer /
        LegFailed (with ``status``); on timeout the leg is cancelled first.
        Inbound legs are answered already: returns at once (LegFailed if ended)."""
        ...

    async def wait_media(self, timeout: float = 2.0) -> bool:
        """Wait until :attr:`audio` is ready. False on timeout or if the leg ended."""
        ...

    async def hangup(self) -> None:
        """BYE (or CANCEL while dialling). Idempotent; never raises for a gone leg."""
        ...

    async def send_dtmf(self, digits: str) -> None:
        """Send digits as RFC 4733 telephone-events (about 100 ms each)."""
        ...

    def on_dtmf(self, callback: Callable[[DtmfEvent], None]) -> None: ...

    def on_ended(self, callback: Callable[[LegEnded], None]) -> None:
        """Called once when the leg ends; at once (on the loop) if it already has."""
        ...

    def rtp_stats(self) -> RtpStats:
        """Latest statistics: the final report once ended, else the live counters."""
        ...


@runtime_checkable
class InboundInvite(Protocol):
    """A new inbound INVITE, not yet answered (100 Trying has been sent).

    Exactly one of :meth:`answer` / :meth:`reject` should be awaited (after :meth:`progress`,
    :meth:`reject` ends the early media). An invite left alone keeps ringing until the
    caller cancels.
    """

    @property
    def call_id(self) -> str: ...

    @property
    def request_uri_user(self) -> str | None:
        """User part of the Request-URI (the dialled number on a trunk)."""
        ...

    @property
    def to_user(self) -> str | None: ...

    @property
    def from_user(self) -> str | None:
        """The caller: user part of the From URI."""
        ...

    @property
    def from_display(self) -> str | None: ...

    @property
    def source(self) -> SourceAddress | None:
        """The packet source of the INVITE; None if the stack could not tell."""
        ...

    @property
    def headers(self) -> Mapping[str, str]:
        """Allowlisted INVITE headers present (StackSettings.expose_headers)."""
        ...

    @property
    def called_number(self) -> str | None:
        """Request-URI user, falling back to the To user (the routing key)."""
        ...

    async def answer(self) -> Leg:
        """Send 200 OK and return the leg. Raises InviteGone if the caller cancelled."""
        ...

    async def progress(self) -> Leg:
        """Send 183 Session Progress with an SDP answer (early media) and return the leg whose
        audio reaches the caller before any answer: nothing is billed, since no 200 is sent. End
        it with :meth:`reject`. Raises InviteGone if the caller cancelled or the stack could not."""
        ...

    async def reject(self, status: int, reason: str) -> None:
        """Send a final 4xx-6xx (404, 403, 486, 488, 503, ...). Never raises for a gone invite."""
        ...


InviteHandler = Callable[[InboundInvite], Awaitable[None] | None]


@runtime_checkable
class SipStack(Protocol):
    """The process's SIP/RTP stack. One per process."""

    async def start(self, listen: ListenAddress) -> None:
        """Bind UDP and TCP on ``listen`` and start taking INVITEs."""
        ...

    def on_invite(self, handler: InviteHandler) -> None:
        """Set the INVITE handler (sync or async). Without one, INVITEs are rejected 503."""
        ...

    async def dial(
        self,
        uri: str,
        *,
        headers: Mapping[str, str] | None = None,
        caller_id: CallerId | None = None,
    ) -> Leg:
        """Send an INVITE; returns at once with a DIALING leg (see ``wait_answered``)."""
        ...

    @property
    def active_legs(self) -> int: ...

    async def drain(self, timeout: float) -> None:
        """Refuse new INVITEs (503) and new dials; wait up to ``timeout`` s for live legs."""
        ...

    async def stop(self) -> None:
        """Hang up everything and release the stack. The process cannot start another."""
        ...


@dataclass
class StackSettings:
    """Adapter-independent knobs the orchestrator passes at construction."""

    max_legs: int = 256
    # The address the stack binds and routes from; None (or a wildcard) = listen.host, or, when
    # that is a wildcard too, every address of the host.
    bind_address: str | None = None
    # Extra INVITE headers to surface on InboundInvite.headers.
    expose_headers: tuple[str, ...] = ("To", "P-Called-Party-ID", "Diversion")
    rtp_timeout_s: int = 0  # declare a leg dead after this long without RTP; 0 = off
    # UDP ports (low, high; both included) for RTP and RTCP; None = the stack's default range.
    rtp_ports: tuple[int, int] | None = None
