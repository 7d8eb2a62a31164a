"""A small softphone for test tools: one baresip Runtime per process, many calls.

Used by the provider stand-in (``provider_sim``) and the caller (``caller``), the two
tools on the far side of the trunk from the edge. One :class:`Phone` listens on
``host:port`` (UDP and TCP) with a catch-all account, so an INVITE to any user reaches
it; it dials SIP URIs from any From user; each :class:`PhoneCall` can answer, reject
with any status, hang up, send DTMF (RFC 4733, or SIP INFO), play a WAV/PCM buffer or a
continuous tone paced at 20 ms, echo what it hears, record what it hears, split what it
hears into energy segments ("prompts") and name their frequencies.

Audio: one pacing thread per established call (50 wake-ups a second, nothing when no
call is up), PCM 16-bit mono at the negotiated rate (8 kHz with the default PCMU/PCMA).

Rejecting with a status other than 486 uses the edge SIP adapter's ``NativeBridge``
(``sip_edge/sip/_native.py``), which runs ``ua_hangup(status)`` on the SIP thread.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import logging
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from baresip import (
    AudioNotActive,
    AudioRestarted,
    BaresipError,
    CallFailed,
    CallTimeout,
    Config,
    Event,
    Runtime,
    StaleHandleError,
    UserAgent,
)
from baresip.call import Call, CallState, DigitEvent
from baresip.errors import split_status
from baresip.events import StackEvent

from sip_edge.media import dsp
from sip_edge.sip._native import NativeBridge

log = logging.getLogger("tools.phone")

FRAME_MS = 20
DtmfMode = Literal["rtpevent", "info"]
_USER = re.compile(r"^[A-Za-z0-9+*#._~-]{1,64}$")
_URI_USER = re.compile(r"(?:sips?|tel):([^@;>?\s]+)", re.IGNORECASE)

# --------------------------------------------------------------------------------------
# DSP: the edge's helpers (sip_edge/media/dsp.py), under the names the tools and tests use
# --------------------------------------------------------------------------------------


def pcm_from(data: bytes) -> array.array[int]:
    """16-bit PCM bytes as signed ints (an odd trailing byte is dropped)."""
    return dsp.samples(data)


def dominant_frequencies(
    samples: array.array[int] | list[float] | npt.NDArray[np.int16],
    rate: int,
    count: int = 2,
    rel_db: float = -12.0,
) -> list[float]:
    """Up to ``count`` strongest tones in the middle 250 ms of ``samples`` (Hz, strongest
    first; each within ``rel_db`` of the strongest, resolved to about 2 Hz)."""
    n = min(len(samples), rate // 4)
    mid = len(samples) // 2 - n // 2
    window = dsp.to_bytes(np.asarray(samples[mid : mid + n]).astype(np.int16))
    return dsp.strongest_frequencies(window, rate, count, rel_db=rel_db)


def rms_dbfs(pcm: bytes) -> float:
    """Level of 16-bit PCM in dBFS, -120 for digital silence."""
    return max(-120.0, dsp.dbfs(pcm))


def read_wav_pcm(path: str | Path) -> tuple[bytes, int]:
    """(16-bit mono PCM, rate) of a WAV or MP3 file; anything else is decoded to 8 kHz mono."""
    data = Path(path).read_bytes()
    with contextlib.suppress(ValueError):
        pcm, rate = dsp.read_wav(data)
        return pcm, rate
    from shared.media.audio import to_pcm8k_wav  # decodes and resamples WAV/MP3 (miniaudio)

    return dsp.read_wav(to_pcm8k_wav(data))


def write_wav(path: str | Path, pcm: bytes, rate: int) -> None:
    Path(path).write_bytes(dsp.wav_bytes(pcm, rate))


def uri_user(value: str | None) -> str | None:
    """User part of a SIP URI or name-addr ('"Bob" <sip:+1555@h>;tag=x' -> '+1555')."""
    if not value:
        return None
    m = _URI_USER.search(value)
    return m.group(1) if m else None


# --------------------------------------------------------------------------------------
# What a call hears: energy segments
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A stretch of received audio above the energy threshold (a prompt, a tone, a voice)."""

    start: float  # seconds since the call began (dial or INVITE)
    end: float
    level_dbfs: float
    freqs_hz: tuple[float, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "duration": round(self.end - self.start, 3),
            "level_dbfs": round(self.level_dbfs, 1),
            "freqs_hz": list(self.freqs_hz),
        }


class _Segmenter:
    """Splits 20 ms frames into segments: on above ``threshold``, off after ``hang_s`` below."""

    def __init__(self, threshold_dbfs: float = -45.0, hang_s: float = 0.3, min_s: float = 0.06) -> None:
        self.threshold = threshold_dbfs
        self.hang_s = hang_s
        self.min_s = min_s
        self._start: float | None = None
        self._last_loud = 0.0
        self._levels: list[float] = []

    def feed(self, t: float, level: float) -> tuple[float, float, float] | None:
        """Frame ending at ``t``; returns a finished (start, end, mean level) or None."""
        if level >= self.threshold:
            if self._start is None:
                self._start = t - FRAME_MS / 1000
                self._levels = []
            self._last_loud = t
            self._levels.append(level)
            return None
        if self._start is not None and t - self._last_loud >= self.hang_s:
            return self.flush()
        return None

    def flush(self) -> tuple[float, float, float] | None:
        if self._start is None:
            return None
        start, end = self._start, self._last_loud
        self._start = None
        if end - start < self.min_s:
            return None
        mean = 10 * math.log10(sum(10 ** (v / 10) for v in self._levels) / len(self._levels))
        return start, end, mean


# --------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------

_call_seq = itertools.count(1)


@dataclass
class CallEnd:
    """How a call ended. ``by`` is "local" when we hung up/rejected/cancelled, else "remote"."""

    by: Literal["local", "remote"]
    reason: str
    status: int | None
    answered: bool
    at: float  # seconds since the call began


class PhoneCall:
    """One call, either direction, with its audio pump. Created by :class:`Phone`."""

    def __init__(
        self,
        phone: Phone,
        call: Call,
        direction: Literal["in", "out"],
        *,
        number: str | None,
        remote: str | None,
        started: float | None = None,
    ) -> None:
        self.phone = phone
        self.id = f"{direction}{next(_call_seq)}"
        self.direction = direction
        self.number = number  # the called user
        self.remote = remote  # the other party's URI (From for inbound, target for outbound)
        self.started = started if started is not None else time.monotonic()
        self.answered_at: float | None = None
        self.ended: CallEnd | None = None
        self.digits_received: list[str] = []
        self.segments: list[Segment] = []
        self._call = call
        self._loop = asyncio.get_running_loop()
        self._local_end = False
        self._answered = asyncio.Event()
        self._closed = asyncio.Event()
        self._listeners: list[Callable[[str, dict[str, Any]], None]] = []
        # audio state (shared with the pump thread; guarded by _lock)
        self._lock = threading.Lock()
        self._tone_hz: float | None = None
        self._tone_amp = 0.3
        self._tone_phase = 0.0
        self._play: bytes | None = None
        self._play_rate = 8000
        self._play_pos = 0  # bytes
        self._echo = False
        self._echo_buf = bytearray()
        self._rx = bytearray()
        self.rx_rate = 8000
        self.tx_rate = 8000
        self.rx_first_at: float | None = None  # call-relative time of the first received frame
        self._seg = _Segmenter()
        self._pump: threading.Thread | None = None
        self._stop = threading.Event()
        call.on(self._on_event)
        call.on_dtmf(self._on_digit)
        early = phone._take_early(call.handle)
        if early:  # after the creator has attached its listeners
            self._loop.call_soon(lambda: [self._on_event(ev) for ev in early])

    # -- identity ---------------------------------------------------------------------

    @property
    def sip_call_id(self) -> str | None:
        return self._call.call_id

    @property
    def state(self) -> CallState:
        return self._call.state

    @property
    def headers(self) -> dict[str, str]:
        return dict(self._call.headers or {})

    def now(self) -> float:
        """Seconds since the call began."""
        return time.monotonic() - self.started

    # -- events -----------------------------------------------------------------------

    def on(self, listener: Callable[[str, dict[str, Any]], None]) -> None:
        """``listener(kind, data)`` for: ringing, progress, answered, digit, segment, ended."""
        self._listeners.append(listener)

    def _emit(self, kind: str, **data: Any) -> None:
        for cb in list(self._listeners):
            try:
                cb(kind, data)
            except Exception:
                log.exception("call listener raised", extra={"call": self.id})

    def _on_event(self, ev: StackEvent) -> None:
        if ev.event is Event.CALL_RINGING and self.answered_at is None and self.ended is None:
            self._emit("ringing", status=180, t=self.now())
        elif ev.event is Event.CALL_PROGRESS:
            self._start_pump()  # 183 with SDP: early media is heard (and recorded) before any answer
            self._emit("progress", status=183, t=self.now())
        elif ev.event is Event.CALL_ESTABLISHED and self.answered_at is None:
            self.answered_at = self.now()
            self._answered.set()
            self._start_pump()
            self._emit("answered", status=200, t=self.answered_at)
        elif ev.event is Event.CALL_CLOSED and self.ended is None:
            status, _reason = split_status(ev.text or "")
            self.ended = CallEnd(
                by="local" if self._local_end else "remote",
                reason=ev.text or "",
                status=status,
                answered=self.answered_at is not None,
                at=self.now(),
            )
            self._stop.set()
            if self._pump is not None:
                self._pump.join(1.0)
            done = self._seg.flush()
            if done is not None:
                self._add_segment(*done)
            self._closed.set()
            self._answered.set()  # wake waiters; they check `ended`
            self._emit(
                "ended",
                by=self.ended.by,
                reason=self.ended.reason,
                status=status,
                answered=self.ended.answered,
                t=self.ended.at,
            )

    def _on_digit(self, d: DigitEvent) -> None:
        self.digits_received.append(d.digit)
        self._emit("digit", digit=d.digit, duration_ms=d.duration_ms, t=self.now())

    # -- control ----------------------------------------------------------------------

    async def answer(self) -> None:
        await self._call.answer()

    async def reject(self, status: int = 486, reason: str = "Busy Here") -> None:
        """Refuse a ringing inbound call with ``status`` (3xx-6xx)."""
        self._local_end = True
        if status == 486:
            with contextlib.suppress(StaleHandleError):
                await self._call.reject()
            return
        sent = await self.phone._bridge.reject(self.sip_call_id or "", status, reason)
        if not sent:
            log.warning("reject found no ringing call", extra={"call": self.id, "status": status})

    async def hangup(self) -> None:
        """BYE when answered, CANCEL while ringing out, 486 while ringing in."""
        if self.ended is not None:
            return
        self._local_end = True
        with contextlib.suppress(StaleHandleError, BaresipError):
            await self._call.hangup()

    async def wait_answered(self, timeout: float | None = None) -> None:
        """Return once answered; raise CallFailed (with .status) if it ended first."""
        try:
            await asyncio.wait_for(self._answered.wait(), timeout)
        except TimeoutError:
            raise CallTimeout(f"not answered within {timeout} s") from None
        if self.answered_at is None:
            assert self.ended is not None
            raise CallFailed.from_close_reason(self.ended.reason)

    async def wait_ended(self, timeout: float | None = None) -> CallEnd:
        await asyncio.wait_for(self._closed.wait(), timeout)
        assert self.ended is not None
        return self.ended

    async def send_digits(self, digits: str, interdigit_ms: int = 120) -> None:
        """Press keys (the account's DTMF mode: RFC 4733 events or SIP INFO)."""
        for i, d in enumerate(digits):
            with contextlib.suppress(StaleHandleError):
                await self._call.send_dtmf(d)
            self._emit("digit_sent", digit=d.upper(), t=self.now())
            if i < len(digits) - 1:
                await asyncio.sleep(interdigit_ms / 1000)

    # -- audio out --------------------------------------------------------------------

    def play_tone(self, hz: float | None, amplitude: float = 0.3) -> None:
        """A continuous sine at ``hz`` (None stops it); mixed with playback and echo."""
        with self._lock:
            self._tone_hz = hz
            self._tone_amp = amplitude

    def play_pcm(self, pcm: bytes, rate: int = 8000) -> None:
        """Play 16-bit mono PCM once (replaces what was playing)."""
        with self._lock:
            self._play = bytes(pcm[: len(pcm) & ~1])
            self._play_rate = rate
            self._play_pos = 0

    def play_wav(self, path: str | Path) -> float:
        """Play a WAV (or MP3) file once; returns its duration in seconds."""
        pcm, rate = read_wav_pcm(path)
        self.play_pcm(pcm, rate)
        return len(pcm) / 2 / rate

    @property
    def playing(self) -> bool:
        with self._lock:
            return self._play is not None

    def stop_playing(self) -> None:
        with self._lock:
            self._play = None

    def set_echo(self, on: bool) -> None:
        """Send back what is received (after one pacing tick)."""
        with self._lock:
            self._echo = on
            self._echo_buf.clear()

    # -- audio in ---------------------------------------------------------------------

    def received_pcm(self) -> bytes:
        """Everything received so far: 16-bit mono at ``rx_rate``, from the first frame."""
        with self._lock:
            return bytes(self._rx)

    def save_wav(self, path: str | Path) -> None:
        write_wav(path, self.received_pcm(), self.rx_rate)

    def heard_frequencies(self, count: int = 2, start_s: float = 0.0) -> list[float]:
        """Strongest tones in the loudest second of what was received after ``start_s``."""
        pcm = dsp.as_array(self.received_pcm())[int(start_s * self.rx_rate) :]
        if not pcm.size:
            return []
        win = self.rx_rate
        best, best_e = 0, -1.0
        for off in range(0, max(1, pcm.size - win + 1), win // 2):
            part = pcm[off : off + win : 8].astype(np.float64)
            e = float(np.dot(part, part))
            if e > best_e:
                best, best_e = off, e
        if best_e <= 0:
            return []
        return dominant_frequencies(pcm[best : best + win], self.rx_rate, count)

    # -- the pump ---------------------------------------------------------------------

    def _start_pump(self) -> None:
        if self._pump is None:
            self._pump = threading.Thread(target=self._run_pump, name=f"phone-audio-{self.id}", daemon=True)
            self._pump.start()

    def _add_segment(self, start: float, end: float, level: float) -> None:
        rate = self.rx_rate
        with self._lock:
            first = self.rx_first_at or 0.0
            a = max(0, int((start - first) * rate)) * 2
            b = max(a, int((min(end, start + 1.0) - first) * rate)) * 2
            chunk = bytes(self._rx[a:b])
        freqs = tuple(dominant_frequencies(pcm_from(chunk), rate, 2)) if chunk else ()
        seg = Segment(start=start, end=end, level_dbfs=level, freqs_hz=freqs)
        self.segments.append(seg)
        self._emit("segment", **seg.as_dict())

    def _run_pump(self) -> None:
        audio = self._call.audio
        frame_s = FRAME_MS / 1000
        target_fill = 3  # frames kept queued ahead of the transmit clock
        pending = bytearray()  # received bytes not yet cut into frames
        next_t = time.monotonic()
        while not self._stop.is_set():
            next_t += frame_s
            try:
                info = audio.info()
                if info.rx_ready:
                    self.rx_rate = info.rx_sample_rate or self.rx_rate
                    data = audio.read(max(info.rx_buffered, 2))
                    if data:
                        self._take_rx(data, pending)
                if info.tx_ready:
                    self.tx_rate = info.tx_sample_rate or self.tx_rate
                    frame_bytes = self.tx_rate * FRAME_MS // 1000 * 2
                    need = target_fill * frame_bytes - info.tx_buffered
                    if need >= frame_bytes:
                        out = self._next_tx(need // frame_bytes * frame_bytes)
                        if out:
                            audio.write(out)
            except (AudioNotActive, AudioRestarted):
                pass
            except Exception:
                log.exception("audio pump failed", extra={"call": self.id})
                return
            delay = next_t - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            elif delay < -0.2:  # fell far behind (suspended?): resync the clock
                next_t = time.monotonic()

    def _take_rx(self, data: bytes, pending: bytearray) -> None:
        frame_bytes = self.rx_rate * FRAME_MS // 1000 * 2
        with self._lock:
            if self.rx_first_at is None:
                self.rx_first_at = self.now() - len(data) / 2 / self.rx_rate
            self._rx.extend(data)
            if self._echo:
                self._echo_buf.extend(data)
                if len(self._echo_buf) > 16000:
                    del self._echo_buf[: len(self._echo_buf) - 16000]
        pending.extend(data)
        first = self.rx_first_at or 0.0
        while len(pending) >= frame_bytes:
            frame = bytes(pending[:frame_bytes])
            del pending[:frame_bytes]
            with self._lock:
                t_end = first + len(self._rx) / 2 / self.rx_rate - len(pending) / 2 / self.rx_rate
            done = self._seg.feed(t_end, rms_dbfs(frame))
            if done is not None:
                self._loop.call_soon_threadsafe(self._add_segment, *done)

    def _next_tx(self, nbytes: int) -> bytes:
        n = nbytes // 2
        rate = self.tx_rate
        with self._lock:
            tone_hz, amp = self._tone_hz, self._tone_amp
            if self._play is not None and self._play_rate != rate:  # converted once, in place
                done = self._play_pos / max(1, len(self._play))
                self._play = dsp.resample(self._play, self._play_rate, rate)
                self._play_rate = rate
                self._play_pos = int(done * len(self._play)) & ~1
            play = b""
            if self._play is not None:
                play = self._play[self._play_pos : self._play_pos + 2 * n]
                self._play_pos += 2 * n
                if self._play_pos >= len(self._play):
                    self._play = None
            if self._echo:
                e = bytes(self._echo_buf[:nbytes])
                del self._echo_buf[:nbytes]
            else:
                e = b""
        if tone_hz is None and not play and not e:
            return b""
        mix = np.zeros(n)
        if tone_hz:
            step = 2 * math.pi * tone_hz / rate
            mix += amp * 32767 * np.sin(self._tone_phase + step * np.arange(n))
            self._tone_phase = (self._tone_phase + step * n) % (2 * math.pi)
        for part in (play, e):
            x = dsp.as_array(part)[:n]
            mix[: x.size] += x
        return dsp.from_array(dsp.saturate(mix))


# --------------------------------------------------------------------------------------
# The phone
# --------------------------------------------------------------------------------------


@dataclass
class PhoneSettings:
    host: str = "127.0.0.1"
    port: int = 5070
    user: str = "phone"  # the catch-all account's user (From of calls dialled without from_user)
    codecs: tuple[str, ...] = ("pcmu", "pcma")
    max_calls: int = 64
    native_log_level: str = "warning"
    # UDP ports (low, high; both included) for the calls' RTP and RTCP; None: baresip's
    # default, a random even port in 1024-49152 per call.
    rtp_ports: tuple[int, int] | None = None
    extra_config: str = ""
    expose_headers: tuple[str, ...] = field(default=("To", "From", "P-Asserted-Identity", "Diversion"))


class Phone:
    """One baresip Runtime listening on ``host:port`` (UDP and TCP), answering any user."""

    def __init__(self, settings: PhoneSettings) -> None:
        self.settings = settings
        self._runtime: Runtime | None = None
        self._bridge_obj: NativeBridge | None = None
        self._catchall: UserAgent | None = None
        self._uas: dict[tuple[str, str], UserAgent] = {}
        self._incoming_cbs: list[Callable[[PhoneCall], None]] = []
        self.calls: dict[str, PhoneCall] = {}
        # Events of calls not wrapped yet: a dial's 180 (or an instant 404) can be
        # dispatched before dial() has returned the Call, and would otherwise be lost.
        self._known: set[int] = set()
        self._early: dict[int, list[StackEvent]] = {}

    @property
    def _bridge(self) -> NativeBridge:
        assert self._bridge_obj is not None, "phone not started"
        return self._bridge_obj

    @property
    def address(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def start(self) -> None:
        s = self.settings
        rtp = f"rtp_ports {s.rtp_ports[0]}-{s.rtp_ports[1]}\n" if s.rtp_ports else ""
        config = Config(
            net_interface=s.host if s.host not in ("0.0.0.0", "::") else None,
            max_concurrent_calls=s.max_calls,
            expose_headers=s.expose_headers,
            native_log_level=s.native_log_level,  # type: ignore[arg-type]
            # Only UDP and TCP: by default baresip also binds TLS on port+1.
            extra_config_text=f"sip_listen {s.host}:{s.port}\nsip_transports udp,tcp\n{rtp}{s.extra_config}",
        )
        self._runtime = Runtime()
        await self._runtime.start(config)
        self._bridge_obj = NativeBridge(self._runtime)
        await self._bridge_obj.install()
        # No ;transport= on the catch-all: with one, INVITEs over the other transport got 404.
        # video_codecs=none: no re-INVITE after answering (found by the edge's SIP adapter).
        self._catchall = await UserAgent.create(
            self._runtime,
            f"<sip:{s.user}@{s.host}:{s.port}>;regint=0;catchall=yes;answermode=manual;"
            f"audio_codecs={','.join(s.codecs)};dtmfmode=rtpevent;video_codecs=none",
        )
        self._catchall.on_incoming(self._on_incoming)
        self._runtime.subscribe(self._buffer_early)

    _EARLY = (Event.CALL_RINGING, Event.CALL_PROGRESS, Event.CALL_ESTABLISHED, Event.CALL_CLOSED)

    def _buffer_early(self, ev: StackEvent) -> None:
        if ev.call and ev.event in self._EARLY and ev.call not in self._known:
            self._early.setdefault(ev.call, []).append(ev)
            while len(self._early) > 256:
                self._early.pop(next(iter(self._early)))

    def _take_early(self, handle: int) -> list[StackEvent]:
        self._known.add(handle)
        return self._early.pop(handle, [])

    async def close(self) -> None:
        for call in list(self.calls.values()):
            await call.hangup()
        if self.calls:
            await asyncio.sleep(0.2)
        if self._bridge_obj is not None:
            self._bridge_obj.uninstall()
        if self._runtime is not None:
            await self._runtime.close()
            self._runtime = None

    async def __aenter__(self) -> Phone:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    def on_incoming(self, callback: Callable[[PhoneCall], None]) -> None:
        """``callback(call)`` for each inbound call, still ringing (180 is already sent)."""
        self._incoming_cbs.append(callback)

    def _on_incoming(self, call: Call) -> None:
        hdrs = call.headers or {}
        number = uri_user(hdrs.get("To")) or self.settings.user
        pc = PhoneCall(self, call, "in", number=number, remote=hdrs.get("From") or call.peer)
        self._track(pc)
        for cb in list(self._incoming_cbs):
            try:
                cb(pc)
            except Exception:
                log.exception("incoming callback raised")

    def _track(self, pc: PhoneCall) -> None:
        self.calls[pc.id] = pc

        def forget(kind: str, _data: dict[str, Any]) -> None:
            if kind == "ended":
                self.calls.pop(pc.id, None)
                self._known.discard(pc._call.handle)

        pc.on(forget)
        if pc.ended is not None:
            forget("ended", {})

    async def _ua(self, from_user: str | None, dtmf: DtmfMode) -> UserAgent:
        assert self._runtime is not None and self._catchall is not None
        s = self.settings
        user = from_user or s.user
        if not _USER.match(user):
            raise ValueError(f"bad From user {user!r}")
        if user == s.user and dtmf == "rtpevent":
            return self._catchall
        key = (user, dtmf)
        ua = self._uas.get(key)
        if ua is None:
            ua = await UserAgent.create(
                self._runtime,
                f"<sip:{user}@{s.host}:{s.port}>;regint=0;answermode=manual;"
                f"audio_codecs={','.join(s.codecs)};dtmfmode={dtmf};video_codecs=none",
            )
            ua.on_incoming(self._on_incoming)
            self._uas[key] = ua
        return ua

    async def dial(
        self,
        uri: str,
        *,
        from_user: str | None = None,
        dtmf: DtmfMode = "rtpevent",
        headers: dict[str, str] | None = None,
    ) -> PhoneCall:
        """Send an INVITE to ``uri`` from ``sip:from_user@host:port``; returns at once."""
        ua = await self._ua(from_user, dtmf)
        started = time.monotonic()
        call = await ua.dial(uri, headers)
        pc = PhoneCall(self, call, "out", number=uri_user(uri), remote=uri, started=started)
        self._track(pc)
        return pc


def parse_port_range(value: str) -> tuple[int, int]:
    """``"LOW-HIGH"`` as (low, high)."""
    low, sep, high = value.partition("-")
    if not sep or not low.isdigit() or not high.isdigit() or not 0 < int(low) < int(high) <= 65535:
        raise ValueError(f"{value!r} is not a port range LOW-HIGH")
    return int(low), int(high)


def parse_hostport(value: str, default_port: int = 5060) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, default_port
    return host.strip("[]"), int(port)
