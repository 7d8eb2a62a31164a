"""The media engine: ONE pacing thread serves every leg of the process every 20 ms.

A leg is anything with the `AudioIO` shape (the SIP adapter's ``Leg.audio``): non-blocking
``write(pcm) -> bytes taken``, ``read(max_bytes) -> bytes`` (``b""`` when nothing arrived),
``flush_tx()`` and ``sample_rate`` (0 while media is not up). PCM is 16-bit mono LE.

Per leg the engine offers (through a `MediaLeg` handle, safe to call from any thread):

- a play queue: ``play(pcm, rate=..., interruptible=True) -> Playback``. The `Playback` is
  awaitable from asyncio and has ``result(timeout)`` for threads; it resolves when the
  last sample is due at the far end (COMPLETED), or when it is interrupted or the leg goes.
- ``stop_playback()``: drops interruptible audio (queued and in flight) and flushes tx.
- a receive tap: ``record(sink)`` feeds every received chunk to ``sink.feed(pcm, rate)``.
- ``MediaEngine.bridge(a, b, mix_sink=...)`` moves what a receives to b and back
  (resampled when the rates differ); an optional mixer tap gets both directions mixed
  into one stream (call recording).

Pacing: per leg the engine keeps an estimate of when the audio it has written runs out
(``tx_until``) and tops the transmit buffer up to ``lead_ms`` (60 ms) ahead on each tick,
one 20 ms frame per write, so a late wake-up of up to ``lead_ms - frame_ms`` leaves no gap.
Should the estimate show the buffer ran dry while audio was waiting, that is an underrun
(``MediaLeg.underruns``, summed in `EngineStats`). Bridged audio goes through a small
playout buffer per direction: it starts after 40 ms have gathered and is then paced the
same way (so a frame arriving a little late does not leave a hole); beyond 200 ms queued
(the two far ends' clocks drifting apart) the oldest audio is dropped.

Threading: public methods only append a command to a deque and wake the thread; the
thread owns all per-leg state. Sink callbacks and ``Playback`` completion run on the
pacing thread, so they must be quick; asyncio code awaits a `Playback` (bridged with
``loop.call_soon_threadsafe`` through `asyncio.wrap_future`) and `on_detached` callbacks
are delivered through ``loop.call_soon_threadsafe`` when the engine was given a loop.
An `AudioIO` (or a sink) that raises detaches its leg (or tap); the thread carries on.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import enum
import itertools
import json
import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from . import dsp

log = logging.getLogger("sip_edge.media.engine")


def _event(event: str, **fields: object) -> None:
    log.info(json.dumps({"event": event, **fields}, default=str))


# --------------------------------------------------------------------------- ports


@runtime_checkable
class AudioIO(Protocol):
    """What the engine needs from a leg's audio (the SIP port's ``LegAudio`` has it)."""

    @property
    def sample_rate(self) -> int:
        """Hz; 0 while media is not up (the engine then leaves the leg alone)."""
        ...

    def write(self, pcm: bytes) -> int: ...

    def read(self, max_bytes: int) -> bytes: ...

    def flush_tx(self) -> None: ...


class RxSink(Protocol):
    """A consumer of received (or mixed) audio. Both methods run on the pacing thread."""

    def feed(self, pcm: bytes, rate: int) -> None: ...

    def ended(self, reason: str) -> None:
        """No more audio will come (tap removed, leg detached, bridge broken)."""
        ...


# --------------------------------------------------------------------------- results


class PlayOutcome(enum.Enum):
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    DETACHED = "detached"  # the leg went away (hang-up, error, engine stopped)


@dataclass(frozen=True)
class PlayResult:
    outcome: PlayOutcome
    played_ms: float


class Playback:
    """One queued play. ``await playback`` (asyncio) or ``playback.result(timeout)``."""

    def __init__(self, leg: MediaLeg, future: concurrent.futures.Future[PlayResult]) -> None:
        self._leg = leg
        self.future = future

    def done(self) -> bool:
        return self.future.done()

    def result(self, timeout: float | None = None) -> PlayResult:
        return self.future.result(timeout)

    def interrupt(self) -> None:
        """Stop this play only (even if not interruptible by barge-in)."""
        self._leg._engine._command("cancel", self._leg, self.future)

    def __await__(self) -> Generator[Any, None, PlayResult]:
        return asyncio.wrap_future(self.future).__await__()


@dataclass
class EngineStats:
    legs: int = 0
    bridges: int = 0
    ticks: int = 0
    late_ticks: int = 0  # ticks that started more than a frame late (skipped ahead)
    max_lateness_ms: float = 0.0
    underruns: int = 0
    cpu_seconds: float = 0.0  # CPU time of the pacing thread


# --------------------------------------------------------------------------- internals


@dataclass
class _Item:
    src: bytes
    src_rate: int
    interruptible: bool
    future: concurrent.futures.Future[PlayResult]
    conv: bytes = b""
    conv_rate: int = 0
    pos: int = 0  # bytes of conv written
    end_due: float = 0.0  # when the last written sample is due at the far end

    def convert(self, rate: int) -> None:
        if rate == self.conv_rate:
            return
        if self.src_rate <= 0:  # "the leg's rate": fixed by the first rate it plays at
            self.src_rate = rate
        fraction = self.pos / len(self.conv) if self.conv else 0.0
        self.conv = dsp.resample(self.src, self.src_rate, rate) if self.src_rate != rate else self.src
        self.conv_rate = rate
        self.pos = min(len(self.conv), int(fraction * len(self.conv)) & ~1)

    @property
    def fully_written(self) -> bool:
        return self.conv_rate != 0 and self.pos >= len(self.conv)


class _Tap:
    def __init__(self, sink: RxSink) -> None:
        self.sink = sink


class TapHandle:
    def __init__(self, leg: MediaLeg, tap: _Tap) -> None:
        self._leg = leg
        self._tap = tap

    def remove(self) -> None:
        """Stop feeding the sink (its ``ended("removed")`` is called)."""
        self._leg._engine._command("untap", self._leg, self._tap)


class _Mixer:
    """Both directions of a bridge, mixed at `rate` on the engine clock, delayed by a
    jitter allowance so that chunks arriving a little late still line up."""

    DELAY_S = 0.06
    MAX_FIFO_S = 0.3

    def __init__(self, sink: RxSink, rate: int, start: float) -> None:
        self.sink = sink
        self.rate = rate
        self.start = start + self.DELAY_S
        self.emitted = 0  # samples
        self.fifos = [bytearray(), bytearray()]
        self.resamplers: list[dsp.Resampler | None] = [None, None]

    def push(self, side: int, pcm: bytes, rate: int) -> None:
        rs = self.resamplers[side]
        if rate != self.rate:
            if rs is None or rs.src_rate != rate:
                rs = self.resamplers[side] = dsp.Resampler(rate, self.rate)
            pcm = rs.process(pcm)
        fifo = self.fifos[side]
        fifo += pcm
        cap = int(self.MAX_FIFO_S * self.rate) * 2
        if len(fifo) > cap:
            del fifo[: len(fifo) - cap]

    def pump(self, now: float) -> None:
        if now < self.start:
            return
        due = int((now - self.start) * self.rate) - self.emitted
        if due <= 0:
            return
        n = due * 2
        a, b = self.fifos
        ca, cb = bytes(a[:n]), bytes(b[:n])
        del a[:n], b[:n]
        mixed = dsp.mix(ca, cb)
        if len(mixed) < n:
            mixed += bytes(n - len(mixed))
        self.emitted += due
        self.sink.feed(mixed, self.rate)


class Bridge:
    """Audio flowing between two legs; ``unbridge()`` stops it (the legs stay attached)."""

    def __init__(self, engine: MediaEngine, a: MediaLeg, b: MediaLeg, mixer: _Mixer | None) -> None:
        self._engine = engine
        self.a = a
        self.b = b
        self.mixer = mixer
        self.resamplers: dict[int, dsp.Resampler] = {}  # keyed by id(sending leg)
        self.dropped_bytes = 0  # what a receiving leg's buffer refused
        self.active = True

    def unbridge(self) -> None:
        self._engine._command("unbridge", None, self)

    def peer(self, leg: MediaLeg) -> MediaLeg:
        return self.b if leg is self.a else self.a


_ids = itertools.count(1)


class MediaLeg:
    """Handle of one attached leg. Methods are thread-safe and never block."""

    def __init__(
        self, engine: MediaEngine, audio: AudioIO, leg_id: str, on_detached: Callable[[str], None] | None
    ) -> None:
        self._engine = engine
        self.audio = audio
        self.leg_id = leg_id
        self._on_detached = on_detached
        # state below is owned by the pacing thread
        self.queue: collections.deque[_Item] = collections.deque()
        self.taps: list[_Tap] = []
        self.bridge: Bridge | None = None
        self.inbound = bytearray()  # bridged audio waiting to be sent to this leg
        self.inbound_primed = False
        self.tx_refused = False  # the last write was cut short by the leg
        self.stalled_since = 0.0
        self.tx_until = 0.0  # 0: idle (nothing in flight)
        self.rate = 0
        self.underruns = 0
        self.frames_written = 0
        self.bytes_received = 0
        self.detached: str | None = None  # the reason, once detached

    def __repr__(self) -> str:
        return f"MediaLeg({self.leg_id!r})"

    @property
    def playing(self) -> bool:
        return bool(self.queue)

    def play(self, pcm: bytes, *, rate: int | None = None, interruptible: bool = True) -> Playback:
        """Queue `pcm` (at `rate`; default: the leg's rate when it plays) after what is queued."""
        fut: concurrent.futures.Future[PlayResult] = concurrent.futures.Future()
        fut.set_running_or_notify_cancel()
        item = _Item(bytes(pcm[: len(pcm) & ~1]), rate or 0, interruptible, fut)
        self._engine._command("play", self, item)
        return Playback(self, fut)

    def stop_playback(self, *, force: bool = False) -> None:
        """Barge-in: drop interruptible audio (all audio with `force`) and flush tx."""
        self._engine._command("stop", self, force)

    def record(self, sink: RxSink) -> TapHandle:
        """Feed everything this leg receives to `sink` until the tap is removed."""
        tap = _Tap(sink)
        self._engine._command("tap", self, tap)
        return TapHandle(self, tap)

    def detach(self, reason: str = "detached") -> None:
        self._engine._command("detach", self, reason)


# --------------------------------------------------------------------------- engine


class MediaEngine:
    BRIDGE_PRIME_S = 0.04  # playout delay before bridged audio starts (absorbs arrival jitter)
    BRIDGE_MAX_S = 0.2  # bridged audio queued beyond this is dropped (clock drift)
    STALL_S = 5.0  # a leg refusing all audio this long while a prompt waits is detached

    def __init__(
        self,
        *,
        frame_ms: int = 20,
        lead_ms: int = 60,
        loop: asyncio.AbstractEventLoop | None = None,
        name: str = "media-pacer",
    ) -> None:
        if lead_ms < frame_ms:
            raise ValueError("lead_ms must be at least one frame")
        self.frame_ms = frame_ms
        self.frame_s = frame_ms / 1000.0
        self.lead_s = lead_ms / 1000.0
        self.loop = loop
        self.name = name
        self._commands: collections.deque[tuple[str, MediaLeg | None, Any]] = collections.deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._legs: list[MediaLeg] = []
        self._bridges: list[Bridge] = []
        self._underruns_gone = 0  # underruns of legs already detached
        self.stats = EngineStats()

    # -- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        if self.loop is None:
            with contextlib.suppress(RuntimeError):  # no loop in this thread: callbacks stay on ours
                self.loop = asyncio.get_running_loop()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; every leg is detached ("engine stopped")."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> MediaEngine:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- public API (any thread)

    def attach(
        self,
        audio: AudioIO,
        *,
        leg_id: str | None = None,
        on_detached: Callable[[str], None] | None = None,
    ) -> MediaLeg:
        """Start serving `audio`. `on_detached(reason)` is called once when the leg goes
        (on the engine's loop if it has one, else on the pacing thread)."""
        leg = MediaLeg(self, audio, leg_id or f"leg-{next(_ids)}", on_detached)
        self._command("attach", leg, None)
        return leg

    def bridge(
        self, a: MediaLeg, b: MediaLeg, *, mix_sink: RxSink | None = None, mix_rate: int = 8000
    ) -> Bridge:
        """Carry a's received audio to b and b's to a. With `mix_sink`, both directions are
        also mixed at `mix_rate` and fed to it (call recording)."""
        if a is b:
            raise ValueError("cannot bridge a leg to itself")
        mixer = _Mixer(mix_sink, mix_rate, time.monotonic()) if mix_sink is not None else None
        br = Bridge(self, a, b, mixer)
        self._command("bridge", None, br)
        return br

    @property
    def leg_count(self) -> int:
        return len(self._legs)

    # -- internals

    def _command(self, op: str, leg: MediaLeg | None, arg: Any) -> None:
        self._commands.append((op, leg, arg))
        self._wake.set()

    def _deliver(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn, *args)
                return
            except RuntimeError:  # loop closed meanwhile
                pass
        try:
            fn(*args)
        except Exception:
            log.exception("media engine callback failed")

    def _run(self) -> None:
        cpu0 = time.thread_time()
        next_tick = time.monotonic()
        dirty: set[MediaLeg] = set()
        try:
            while not self._stopping:
                now = time.monotonic()
                wait = next_tick - now
                if wait > 0:
                    self._wake.wait(wait)
                    self._wake.clear()
                    now = time.monotonic()
                self._drain_commands(now, dirty)
                if now >= next_tick:
                    lateness = now - next_tick
                    try:
                        self._tick(now)
                    except Exception:  # a bug must not stop the audio of every call
                        log.exception("media engine tick failed")
                    self.stats.ticks += 1
                    self.stats.max_lateness_ms = max(self.stats.max_lateness_ms, lateness * 1000)
                    next_tick += self.frame_s
                    if now - next_tick > self.frame_s:
                        self.stats.late_ticks += 1
                        next_tick = now + self.frame_s
                else:
                    for leg in dirty:
                        self._serve_one(leg, now)
                dirty.clear()
                self.stats.cpu_seconds = time.thread_time() - cpu0
        finally:
            self._drain_commands(time.monotonic(), dirty)
            for leg in list(self._legs):
                self._detach(leg, "engine stopped")
            self.stats.cpu_seconds = time.thread_time() - cpu0

    def _drain_commands(self, now: float, dirty: set[MediaLeg]) -> None:
        while self._commands:
            op, leg, arg = self._commands.popleft()
            try:
                self._apply(op, leg, arg, now, dirty)
            except Exception as exc:
                if leg is None:
                    log.exception("media engine command %s failed", op)
                else:  # the leg's audio raised (flush_tx on a gone call): let the leg go
                    self._detach(leg, f"audio error: {type(exc).__name__}: {exc}")

    def _apply(self, op: str, leg: MediaLeg | None, arg: Any, now: float, dirty: set[MediaLeg]) -> None:
        if op == "bridge":
            br: Bridge = arg
            if br.a.detached is not None or br.b.detached is not None:
                self._end_bridge(br, "leg detached")
                return
            for one in (br.a, br.b):
                if one.bridge is not None:
                    self._end_bridge(one.bridge, "rebridged")
                one.bridge = br
            self._bridges.append(br)
            self.stats.bridges = len(self._bridges)
            return
        if op == "unbridge":
            self._end_bridge(arg, "unbridged")
            return
        assert leg is not None
        if op == "attach":
            self._legs.append(leg)
            self.stats.legs = len(self._legs)
            return
        if leg.detached is not None:  # commands for a leg that has gone
            if op == "play":
                arg.future.set_result(PlayResult(PlayOutcome.DETACHED, 0.0))
            elif op == "tap":
                self._end_sink(arg.sink, leg.detached)
            return
        if op == "play":
            leg.queue.append(arg)
            leg.inbound.clear()  # a prompt takes the line from bridged audio
            leg.inbound_primed = False
            dirty.add(leg)
        elif op == "stop":
            self._stop_playback(leg, now, force=bool(arg))
        elif op == "cancel":
            self._cancel_item(leg, now, arg)
        elif op == "tap":
            leg.taps.append(arg)
        elif op == "untap":
            if arg in leg.taps:
                leg.taps.remove(arg)
                self._end_sink(arg.sink, "removed")
        elif op == "detach":
            self._detach(leg, str(arg))

    # -- per tick

    def _tick(self, now: float) -> None:
        read_chunk_ms = 200
        for leg in list(self._legs):
            if leg.detached is not None:
                continue
            try:
                rate = leg.audio.sample_rate
                if rate <= 0:
                    leg.tx_until = 0.0
                    if leg.rate > 0 and leg.queue:  # media went away under a prompt
                        self._check_stall(leg, now, stalled=True)
                    continue
                if rate != leg.rate:
                    leg.rate = rate
                    leg.tx_until = 0.0
                    leg.inbound.clear()
                    leg.inbound_primed = False
                data = leg.audio.read(rate * read_chunk_ms // 1000 * 2)
                if data:
                    leg.bytes_received += len(data)
                    self._dispatch_rx(leg, data, rate)
                self._service_tx(leg, now)
            except Exception as exc:
                self._detach(leg, f"audio error: {type(exc).__name__}: {exc}")
        for br in self._bridges:
            if br.mixer is not None:
                try:
                    br.mixer.pump(now)
                except Exception as exc:
                    log.exception("mix sink failed")
                    self._end_sink(br.mixer.sink, f"sink error: {exc}")
                    br.mixer = None
        self.stats.underruns = self._underruns_gone + sum(x.underruns for x in self._legs)

    def _serve_one(self, leg: MediaLeg, now: float) -> None:
        if leg.detached is not None:
            return
        try:
            self._service_tx(leg, now)
        except Exception as exc:
            self._detach(leg, f"audio error: {type(exc).__name__}: {exc}")

    def _dispatch_rx(self, leg: MediaLeg, data: bytes, rate: int) -> None:
        for tap in list(leg.taps):
            try:
                tap.sink.feed(data, rate)
            except Exception as exc:
                log.exception("rx sink failed on %s", leg.leg_id)
                leg.taps.remove(tap)
                self._end_sink(tap.sink, f"sink error: {exc}")
        br = leg.bridge
        if br is None:
            return
        if br.mixer is not None:
            br.mixer.push(0 if leg is br.a else 1, data, rate)
        peer = br.peer(leg)
        if peer.queue or peer.detached is not None or peer.rate <= 0:
            return  # a prompt playing to the peer has the line; or the peer is not up
        if peer.rate != rate:
            rs = br.resamplers.get(id(leg))
            if rs is None or rs.src_rate != rate or rs.dst_rate != peer.rate:
                rs = br.resamplers[id(leg)] = dsp.Resampler(rate, peer.rate)
            data = rs.process(data)
        buf = peer.inbound
        buf += data
        cap = int(self.BRIDGE_MAX_S * peer.rate) * 2
        if len(buf) > cap:  # the far ends' clocks drift apart (or a burst): drop the oldest
            excess = len(buf) - int(self.lead_s * peer.rate) * 2
            del buf[:excess]
            br.dropped_bytes += excess

    def _service_tx(self, leg: MediaLeg, now: float) -> None:
        """Resolve what has finished playing, then top the tx buffer up to lead ahead."""
        q = leg.queue
        while q and q[0].fully_written and q[0].end_due <= now:
            item = q.popleft()
            item.future.set_result(
                PlayResult(PlayOutcome.COMPLETED, dsp.duration_ms(item.conv, item.conv_rate))
            )
        if not q:
            if leg.inbound:
                self._service_bridge_tx(leg, now)
            elif leg.tx_until and leg.tx_until < now:
                leg.tx_until = 0.0
                leg.inbound_primed = False
            return
        rate = leg.rate or leg.audio.sample_rate
        if rate <= 0:
            return
        leg.rate = rate
        if leg.tx_until == 0.0:
            leg.tx_until = now  # a fresh start, not an underrun
        elif leg.tx_until < now:
            if not leg.tx_refused and any(not it.fully_written for it in q):
                leg.underruns += 1
            leg.tx_until = now
        frame = dsp.frame_bytes(rate, self.frame_ms)
        horizon = now + self.lead_s
        audio = leg.audio
        leg.tx_refused = False
        while leg.tx_until < horizon:
            chunk, parts = self._next_frame(leg, frame, rate)
            if not chunk:
                break
            taken = audio.write(chunk)
            taken = max(0, taken - (taken & 1))
            if taken < len(chunk):
                self._rewind(parts, len(chunk) - taken)
                leg.tx_refused = True  # its buffer is full (or the call is ending): not an underrun
            if taken == 0:
                self._check_stall(leg, now, stalled=True)
                break
            leg.stalled_since = 0.0
            start = leg.tx_until
            leg.tx_until += taken / (2 * rate)
            leg.frames_written += 1
            for item, end_off, _took in parts:
                if item.fully_written and end_off <= taken:
                    item.end_due = start + end_off / (2 * rate)

    def _check_stall(self, leg: MediaLeg, now: float, *, stalled: bool) -> None:
        """A leg that takes no audio for `STALL_S` while a prompt waits (its call ended
        without anyone detaching it) is let go, so that nobody awaits its playback forever."""
        if not stalled:
            leg.stalled_since = 0.0
        elif not leg.stalled_since:
            leg.stalled_since = now
        elif now - leg.stalled_since > self.STALL_S:
            self._detach(leg, "audio stalled")

    def _service_bridge_tx(self, leg: MediaLeg, now: float) -> None:
        """Send bridged audio with a small playout delay: start once `BRIDGE_PRIME_S` has
        gathered, then keep the leg's buffer topped up to the lead like a prompt."""
        rate = leg.rate
        if rate <= 0:
            return
        buf = leg.inbound
        if not leg.inbound_primed:
            if len(buf) < int(self.BRIDGE_PRIME_S * rate) * 2:
                return
            leg.inbound_primed = True
            leg.tx_until = max(leg.tx_until, now)
        elif leg.tx_until < now:
            leg.tx_until = now  # the far end paused (or a packet was lost): not our underrun
        frame = dsp.frame_bytes(rate, self.frame_ms)
        horizon = now + self.lead_s
        while leg.tx_until < horizon and len(buf) >= 2:
            chunk = bytes(buf[:frame])
            chunk = chunk[: len(chunk) & ~1]
            taken = leg.audio.write(chunk)
            taken = max(0, taken - (taken & 1))
            if taken == 0:
                break
            del buf[:taken]
            leg.tx_until += taken / (2 * rate)
            leg.frames_written += 1

    @staticmethod
    def _next_frame(leg: MediaLeg, frame: int, rate: int) -> tuple[bytes, list[tuple[_Item, int, int]]]:
        """Up to one frame from the queue, spanning item boundaries so that consecutive
        prompts play without a gap. Returns the bytes and, per item used, the offset in the
        frame where its part ends and the bytes taken from it."""
        out = bytearray()
        parts: list[tuple[_Item, int, int]] = []
        for item in leg.queue:
            if len(out) >= frame:
                break
            if item.fully_written:
                continue
            item.convert(rate)
            take = item.conv[item.pos : item.pos + frame - len(out)]
            item.pos += len(take)
            out += take
            parts.append((item, len(out), len(take)))
        return bytes(out), parts

    @staticmethod
    def _rewind(parts: list[tuple[_Item, int, int]], n: int) -> None:
        """Give back the last `n` bytes of a frame the leg did not take."""
        for item, _end, took in reversed(parts):
            if n <= 0:
                break
            back = min(n, took)
            item.pos -= back
            n -= back

    def _stop_playback(self, leg: MediaLeg, now: float, *, force: bool) -> None:
        q = leg.queue
        if not q:
            return
        keep: collections.deque[_Item] = collections.deque()
        flushed = False
        for item in q:
            if force or item.interruptible:
                self._interrupt(leg, item, now)
                flushed = flushed or item.pos > 0
            else:
                keep.append(item)
        leg.queue = keep
        if flushed:
            leg.audio.flush_tx()
            leg.tx_until = 0.0
            for item in keep:  # a kept item whose audio was flushed plays again from its start
                if item.pos:
                    item.pos = 0
                    item.end_due = 0.0

    def _cancel_item(self, leg: MediaLeg, now: float, fut: concurrent.futures.Future[PlayResult]) -> None:
        for item in list(leg.queue):
            if item.future is fut:
                if item.pos > 0:
                    # its audio is in flight: flush, and replay whatever else was partly sent
                    leg.queue.remove(item)
                    self._interrupt(leg, item, now)
                    leg.audio.flush_tx()
                    leg.tx_until = 0.0
                    for other in leg.queue:
                        if other.pos:
                            other.pos = 0
                            other.end_due = 0.0
                else:
                    leg.queue.remove(item)
                    self._interrupt(leg, item, now)
                return

    def _interrupt(self, leg: MediaLeg, item: _Item, now: float) -> None:
        if item.future.done():
            return
        unplayed_s = max(0.0, leg.tx_until - now) if item.pos else 0.0
        played_ms = max(0.0, dsp.duration_ms(item.conv[: item.pos], item.conv_rate or 1) - unplayed_s * 1000)
        item.future.set_result(PlayResult(PlayOutcome.INTERRUPTED, played_ms))

    def _end_bridge(self, br: Bridge, reason: str) -> None:
        if not br.active:
            return
        br.active = False
        for one in (br.a, br.b):
            if one.bridge is br:
                one.bridge = None
                one.inbound.clear()
                one.inbound_primed = False
        if br in self._bridges:
            self._bridges.remove(br)
        self.stats.bridges = len(self._bridges)
        if br.mixer is not None:
            self._end_sink(br.mixer.sink, reason)
            br.mixer = None

    def _end_sink(self, sink: RxSink, reason: str) -> None:
        try:
            sink.ended(reason)
        except Exception:
            log.exception("sink.ended failed")

    def _detach(self, leg: MediaLeg, reason: str) -> None:
        if leg.detached is not None:
            return
        leg.detached = reason
        for item in leg.queue:
            if not item.future.done():
                item.future.set_result(PlayResult(PlayOutcome.DETACHED, 0.0))
        leg.queue.clear()
        if leg.bridge is not None:
            self._end_bridge(leg.bridge, f"{leg.leg_id} detached")
        for tap in leg.taps:
            self._end_sink(tap.sink, reason)
        leg.taps.clear()
        self._underruns_gone += leg.underruns
        if leg in self._legs:
            self._legs.remove(leg)
        self.stats.legs = len(self._legs)
        _event("media_leg_detached", leg=leg.leg_id, reason=reason, underruns=leg.underruns)
        if leg._on_detached is not None:
            self._deliver(leg._on_detached, reason)
