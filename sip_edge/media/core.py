"""The media engine's pacer and mixer, sans I/O: `MediaCore.tick(now)` does the work of the
instant `now`, which the caller reads from its clock. Nothing here starts a thread, reads
a clock or sleeps, so a test drives it on virtual time; `engine.MediaEngine` is the thread
that runs it on the real clock.

A leg is anything with the `AudioIO` shape (the SIP adapter's ``Leg.audio``): non-blocking
``write(pcm) -> bytes taken``, ``read(max_bytes) -> bytes`` (``b""`` when nothing arrived),
``flush_tx()`` and ``sample_rate`` (0 while media is not up). PCM is 16-bit mono LE.

Per leg the core offers (through a `MediaLeg` handle, safe to call from any thread):

- a play queue: ``play(pcm, rate=..., interruptible=True) -> Playback``. The `Playback` is
  awaitable from asyncio and has ``result(timeout)`` for threads; it resolves when the
  last sample is due at the far end (COMPLETED), or when it is interrupted or the leg goes.
- ``stop_playback()``: drops interruptible audio (queued and in flight) and flushes tx.
- a receive tap: ``record(sink)`` feeds every received chunk to ``sink.feed(pcm, rate)``.
- ``bridge(a, b, mix_sink=...)`` moves what a receives to b and back (resampled when the
  rates differ, by a continuous stream per direction); an optional mixer tap gets both
  directions mixed into one stream (call recording).

Pacing: a full pass runs every `frame_ms` (20 ms): it reads what each leg received and
tops each transmit buffer up. Per leg the core keeps an estimate of when the audio it has
written runs out (``tx_until``) and tops up to ``lead_ms`` (60 ms) ahead, one 20 ms frame
per write, so a late pass of up to ``lead_ms - frame_ms`` leaves no gap. Should the
estimate show the buffer ran dry while audio was waiting, that is an underrun
(``MediaLeg.underruns``, summed in `EngineStats`). A pass that starts more than a frame
late skips ahead (``late_ticks``). Bridged audio goes through a small playout buffer per
direction: it starts after 40 ms have gathered and is then paced the same way (so a frame
arriving a little late does not leave a hole); beyond 200 ms queued (the two far ends'
clocks drifting apart) the oldest audio is dropped.

Commands: public methods only append a command to a deque (and call ``on_command``, with
which a shell wakes its thread); ``tick`` applies them, so all per-leg state belongs to
whoever calls ``tick``. A command between passes is served at once for the legs it
touches (a new prompt starts without waiting for the next pass). Sink callbacks and
``Playback`` completion run inside ``tick``, so they must be quick; ``on_detached``
callbacks go through ``deliver`` (the shell hands them to its asyncio loop). An `AudioIO`
(or a sink) that raises detaches its leg (or tap); the core carries on.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import enum
import itertools
import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

from shared.logs import log_event

from . import dsp
from .mixer import BridgeMixer
from .ports import AudioIO, RxSink

# The engine's log (its events keep the logger they always had, core or shell).
log = logging.getLogger("sip_edge.media.engine")

Deliver = Callable[[Callable[[str], None], str], None]


def _event(event: str, **fields: object) -> None:
    log_event(log, event, **fields)


def call_now(fn: Callable[[str], None], arg: str) -> None:
    """The default `Deliver`: call on the ticking thread (an exception is logged)."""
    try:
        fn(arg)
    except Exception:
        log.exception("media engine callback failed")


def _nothing() -> None:
    pass


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
        self._leg._core._command("cancel", self._leg, self.future)

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
    cpu_seconds: float = 0.0  # CPU time of the pacing thread (the shell measures it)


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
        self._leg._core._command("untap", self._leg, self._tap)


class Bridge:
    """Audio flowing between two legs; ``unbridge()`` stops it (the legs stay attached)."""

    def __init__(self, core: MediaCore, a: MediaLeg, b: MediaLeg, mixer: BridgeMixer | None) -> None:
        self._core = core
        self.a = a
        self.b = b
        self.mixer = mixer
        # one continuous stream per (sending leg, rate it is converted to), shared by the
        # peer's direction and the mix when they want the same rate
        self.resamplers: dict[tuple[int, int], dsp.Resampler] = {}
        self.dropped_bytes = 0  # what a receiving leg's buffer refused
        self.active = True

    def unbridge(self) -> None:
        self._core._command("unbridge", None, self)

    def peer(self, leg: MediaLeg) -> MediaLeg:
        return self.b if leg is self.a else self.a

    def resampler(self, leg: MediaLeg, src_rate: int, dst_rate: int) -> dsp.Resampler:
        key = (id(leg), dst_rate)
        rs = self.resamplers.get(key)
        if rs is None or rs.src_rate != src_rate:
            rs = self.resamplers[key] = dsp.Resampler(src_rate, dst_rate)
        return rs


_ids = itertools.count(1)


class MediaLeg:
    """Handle of one attached leg. Methods are thread-safe and never block."""

    def __init__(
        self, core: MediaCore, audio: AudioIO, leg_id: str, on_detached: Callable[[str], None] | None
    ) -> None:
        self._core = core
        self.audio = audio
        self.leg_id = leg_id
        self._on_detached = on_detached
        # state below is owned by whoever ticks the core
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
        self._core._command("play", self, item)
        return Playback(self, fut)

    def stop_playback(self, *, force: bool = False) -> None:
        """Barge-in: drop interruptible audio (all audio with `force`) and flush tx."""
        self._core._command("stop", self, force)

    def record(self, sink: RxSink) -> TapHandle:
        """Feed everything this leg receives to `sink` until the tap is removed."""
        tap = _Tap(sink)
        self._core._command("tap", self, tap)
        return TapHandle(self, tap)

    def detach(self, reason: str = "detached") -> None:
        self._core._command("detach", self, reason)


# --------------------------------------------------------------------------- the core


class MediaCore:
    BRIDGE_PRIME_S = 0.04  # playout delay before bridged audio starts (absorbs arrival jitter)
    BRIDGE_MAX_S = 0.2  # bridged audio queued beyond this is dropped (clock drift)
    STALL_S = 5.0  # a leg refusing all audio this long while a prompt waits is detached
    READ_CHUNK_MS = 200  # the most received audio taken from a leg in one pass

    def __init__(
        self,
        *,
        frame_ms: int = 20,
        lead_ms: int = 60,
        deliver: Deliver = call_now,
        on_command: Callable[[], None] = _nothing,
    ) -> None:
        if lead_ms < frame_ms:
            raise ValueError("lead_ms must be at least one frame")
        self.frame_ms = frame_ms
        self.frame_s = frame_ms / 1000.0
        self.lead_s = lead_ms / 1000.0
        self.deliver = deliver  # how an ``on_detached`` callback reaches its owner
        self.on_command = on_command  # called (on the caller's thread) after a command is queued
        self._commands: collections.deque[tuple[str, MediaLeg | None, Any]] = collections.deque()
        self._legs: list[MediaLeg] = []
        self._bridges: list[Bridge] = []
        self._dirty: set[MediaLeg] = set()  # legs a command touched since the last tick
        self._next_tick: float | None = None  # None: no pass yet (the first tick is one)
        self._underruns_gone = 0  # underruns of legs already detached
        self.stats = EngineStats()

    # -- public API (any thread)

    def attach(
        self,
        audio: AudioIO,
        *,
        leg_id: str | None = None,
        on_detached: Callable[[str], None] | None = None,
    ) -> MediaLeg:
        """Start serving `audio`. `on_detached(reason)` is called once when the leg goes
        (through `deliver`)."""
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
        mixer = BridgeMixer(mix_sink, mix_rate) if mix_sink is not None else None
        br = Bridge(self, a, b, mixer)
        self._command("bridge", None, br)
        return br

    @property
    def leg_count(self) -> int:
        return len(self._legs)

    # -- driving (one thread at a time)

    def next_due(self, now: float) -> float:
        """When the next pass is due (`now` before the first one)."""
        return now if self._next_tick is None else self._next_tick

    def tick(self, now: float) -> float:
        """Do the work of the instant `now`: apply the queued commands, then run the pass if
        it is due (else serve only the legs the commands touched). Returns when the next
        pass is due. `now` must not go back between calls."""
        if self._next_tick is None:
            self._next_tick = now
        self._drain_commands(now)
        if now >= self._next_tick:
            lateness = now - self._next_tick
            try:
                self._pass(now)
            except Exception:  # a bug must not stop the audio of every call
                log.exception("media engine tick failed")
            self.stats.ticks += 1
            self.stats.max_lateness_ms = max(self.stats.max_lateness_ms, lateness * 1000)
            self._next_tick += self.frame_s
            if now - self._next_tick > self.frame_s:
                self.stats.late_ticks += 1
                self._next_tick = now + self.frame_s
        else:
            for leg in self._dirty:
                self._serve_one(leg, now)
        self._dirty.clear()
        return self._next_tick

    def close(self, now: float, reason: str = "engine stopped") -> None:
        """Apply what is queued, then detach every leg (their plays resolve DETACHED)."""
        self._drain_commands(now)
        self._dirty.clear()
        for leg in list(self._legs):
            self._detach(leg, reason)

    # -- commands

    def _command(self, op: str, leg: MediaLeg | None, arg: Any) -> None:
        self._commands.append((op, leg, arg))
        self.on_command()

    def _drain_commands(self, now: float) -> None:
        while self._commands:
            op, leg, arg = self._commands.popleft()
            try:
                self._apply(op, leg, arg, now)
            except Exception as exc:
                if leg is None:
                    log.exception("media engine command %s failed", op)
                else:  # the leg's audio raised (flush_tx on a gone call): let the leg go
                    self._detach(leg, f"audio error: {type(exc).__name__}: {exc}")

    def _apply(self, op: str, leg: MediaLeg | None, arg: Any, now: float) -> None:
        if op == "bridge":
            br: Bridge = arg
            if br.a.detached is not None or br.b.detached is not None:
                self._end_bridge(br, "leg detached")
                return
            for one in (br.a, br.b):
                if one.bridge is not None:
                    self._end_bridge(one.bridge, "rebridged")
                one.bridge = br
            if br.mixer is not None:
                br.mixer.begin(now)
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
            self._dirty.add(leg)
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

    # -- the pass

    def _pass(self, now: float) -> None:
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
                data = leg.audio.read(rate * self.READ_CHUNK_MS // 1000 * 2)
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
        mixer = br.mixer
        mixed = data  # this chunk at the mix's rate: the peer takes it when its rate is that
        if mixer is not None:
            if rate != mixer.rate:
                mixed = br.resampler(leg, rate, mixer.rate).process(data)
            mixer.push(0 if leg is br.a else 1, mixed, mixer.rate)
        peer = br.peer(leg)
        if peer.queue or peer.detached is not None or peer.rate <= 0:
            return  # a prompt playing to the peer has the line; or the peer is not up
        if peer.rate != rate:
            if mixer is not None and mixer.rate == peer.rate:
                data = mixed
            else:
                data = br.resampler(leg, rate, peer.rate).process(data)
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

    # -- stopping and leaving

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
            self.deliver(leg._on_detached, reason)
