"""The media engine's pacing on virtual time: the sans-I/O core (`MediaCore`) ticked by a
`Rig` the way the engine's thread ticks it, and the thread itself (`MediaEngine`) on a
`ManualClock`, with in-memory legs that timestamp writes and drain like a real stack's
transmit buffer (`sip_edge.media.memory_io.MemoryAudio`) on the same clock. No test
waits on the wall clock."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import pytest

from sip_edge.media import dsp
from sip_edge.media.clock import ManualClock
from sip_edge.media.core import MediaCore
from sip_edge.media.engine import AudioIO, MediaEngine, PlayOutcome
from sip_edge.media.memory_io import MemoryAudio
from sip_edge.media.recorder import CallRecorder, StopReason, VoicemailRecorder

FREQS = [440, 1000]
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Pending(Protocol[T_co]):  # a Playback or a recorder
    def done(self) -> bool: ...

    def result(self, timeout: float | None = None) -> T_co: ...


class Rig:
    """A `MediaCore` on virtual time, ticked as the engine's thread ticks it: at once for
    commands, then at each due pass plus a small wake-up latency."""

    WAKE_LATENCY_S = 0.0005

    def __init__(self, **core_options: Any) -> None:
        self.clock = ManualClock(100.0)
        self.core = MediaCore(**core_options)

    @property
    def now(self) -> float:
        return self.clock.monotonic()

    def audio(self, rate: int = 8000, **options: Any) -> MemoryAudio:
        return MemoryAudio(rate, clock=self.clock.monotonic, **options)

    def run_until(self, cond: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Tick until `cond()` holds (True) or `timeout` virtual seconds pass (False)."""
        end = self.now + timeout
        while True:
            self.core.tick(self.now)
            if cond():
                return True
            t = max(self.core.next_due(self.now) + self.WAKE_LATENCY_S, self.now)
            if t > end:
                self.clock.set(max(end, self.now))
                return cond()
            self.clock.set(t)

    def run(self, seconds: float) -> None:
        self.run_until(lambda: False, seconds)

    def result(self, pending: Pending[T], timeout: float = 5.0) -> T:
        """Run until `pending` is done (at most `timeout` virtual seconds), then its result."""
        self.run_until(pending.done, timeout)
        return pending.result(0)


def max_ahead_s(audio: MemoryAudio) -> float:
    """The most audio ever buffered ahead of the device clock right after a write."""
    t0 = audio.writes[0][0]
    total = 0
    worst = 0.0
    for t, n in audio.writes:
        total += n
        worst = max(worst, total / (audio.rate * 2) - (t - t0))
    return worst


class Sink:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.rates: set[int] = set()
        self.end: str | None = None

    def feed(self, pcm: bytes, rate: int) -> None:
        self.buf += pcm
        self.rates.add(rate)

    def ended(self, reason: str) -> None:
        self.end = reason


def advance_until(clock: ManualClock, cond: Callable[[], bool], timeout: float = 3.0) -> None:
    """Move a `ManualClock` on in 5 ms steps (the engine's thread catching up each time)."""
    end = clock.monotonic() + timeout
    clock.settle()
    while not cond():
        if clock.monotonic() > end:
            raise AssertionError("condition not met in time")
        clock.advance(0.005)


def test_memory_audio_is_an_audio_io() -> None:
    assert isinstance(MemoryAudio(), AudioIO)


def test_play_is_paced_without_gaps_and_resolves_when_heard() -> None:
    rig = Rig()
    audio = rig.audio(8000)
    leg = rig.core.attach(audio)
    start = rig.now
    result = rig.result(leg.play(dsp.tone(440, 1000, 8000)), 5)
    elapsed = rig.now - start
    assert result.outcome is PlayOutcome.COMPLETED and result.played_ms == pytest.approx(1000)
    assert 0.95 <= elapsed <= 1.15  # resolved when the last sample is due, not when written
    assert audio.gaps == []
    assert leg.underruns == 0
    assert audio.written_bytes == 16000
    assert max_ahead_s(audio) <= 0.085  # topped up ~60 ms ahead, never far ahead
    assert all(n == 320 for _, n in audio.writes)  # one 20 ms frame per write
    assert dsp.dominant_frequency(audio.heard(), 8000, FREQS) == 440


def test_consecutive_prompts_play_back_to_back() -> None:
    rig = Rig()
    audio = rig.audio(8000)
    leg = rig.core.attach(audio)
    first = leg.play(dsp.tone(440, 330, 8000))  # not a multiple of 20 ms: frames span items
    second = leg.play(dsp.tone(1000, 300, 8000))
    r2 = rig.result(second, 5)
    assert first.done() and first.result().outcome is PlayOutcome.COMPLETED
    assert r2.outcome is PlayOutcome.COMPLETED
    assert audio.gaps == []
    heard = audio.heard()
    assert len(heard) == (330 + 300) * 16
    assert dsp.dominant_frequency(heard[: 300 * 16], 8000, FREQS) == 440
    assert dsp.dominant_frequency(heard[-280 * 16 :], 8000, FREQS) == 1000


def test_prompt_is_resampled_to_the_leg_rate() -> None:
    rig = Rig()
    audio = rig.audio(16000)
    leg = rig.core.attach(audio)
    assert rig.result(leg.play(dsp.tone(1000, 400, 8000), rate=8000), 5).outcome is PlayOutcome.COMPLETED
    heard = audio.heard()
    assert abs(len(heard) - 400 * 32) <= 4
    assert dsp.dominant_frequency(heard, 16000, FREQS) == 1000
    assert audio.gaps == []


def test_stop_playback_interrupts_and_flushes() -> None:
    rig = Rig()
    audio = rig.audio(8000)
    leg = rig.core.attach(audio)
    long = leg.play(dsp.tone(440, 5000, 8000))
    queued = leg.play(dsp.tone(440, 1000, 8000))
    rig.run(0.3)
    leg.stop_playback()
    r = rig.result(long, 1)
    assert r.outcome is PlayOutcome.INTERRUPTED
    assert 200 <= r.played_ms <= 420
    assert rig.result(queued, 1).outcome is PlayOutcome.INTERRUPTED
    assert audio.flushes == 1
    written = audio.written_bytes
    rig.run(0.1)
    assert audio.written_bytes == written  # nothing more is sent
    assert not leg.playing


def test_stop_playback_spares_uninterruptible_audio() -> None:
    rig = Rig()
    audio = rig.audio(8000)
    leg = rig.core.attach(audio)
    must = leg.play(dsp.tone(1000, 400, 8000), interruptible=False)
    optional = leg.play(dsp.tone(440, 2000, 8000))
    rig.run(0.1)
    leg.stop_playback()
    assert rig.result(optional, 1).outcome is PlayOutcome.INTERRUPTED
    assert rig.result(must, 2).outcome is PlayOutcome.COMPLETED
    assert audio.flushes == 0
    forced = leg.play(dsp.tone(1000, 2000, 8000), interruptible=False)
    rig.run(0.1)
    leg.stop_playback(force=True)
    assert rig.result(forced, 1).outcome is PlayOutcome.INTERRUPTED
    assert audio.flushes == 1


def test_one_playback_can_be_interrupted_alone() -> None:
    rig = Rig()
    audio = rig.audio(8000)
    leg = rig.core.attach(audio)
    first = leg.play(dsp.tone(440, 3000, 8000), interruptible=False)
    second = leg.play(dsp.tone(1000, 200, 8000))
    rig.run(0.1)
    first.interrupt()
    assert rig.result(first, 1).outcome is PlayOutcome.INTERRUPTED
    assert rig.result(second, 2).outcome is PlayOutcome.COMPLETED


def test_playback_is_awaitable_from_asyncio() -> None:
    clock = ManualClock(100.0)

    async def on_virtual_time(aw: Awaitable[T]) -> T:
        """Await `aw` while the engine's clock moves on."""
        task = asyncio.ensure_future(aw)
        while not task.done():
            clock.advance(0.005)
            await asyncio.sleep(0)
        return task.result()

    async def main() -> list[PlayOutcome]:
        detached: list[str] = []
        with MediaEngine(clock=clock) as eng:  # started inside the loop: callbacks come back on it
            audio = MemoryAudio(8000, clock=clock.monotonic)
            leg = eng.attach(audio, on_detached=detached.append)
            r1 = await on_virtual_time(leg.play(dsp.tone(440, 200, 8000)))
            pending = leg.play(dsp.tone(440, 2000, 8000))
            clock.advance(0.05)
            audio.hang_up()
            r2 = await on_virtual_time(pending)
            for _ in range(100):
                if detached:
                    break
                clock.advance(0.01)
                await asyncio.sleep(0)
        assert detached and "AudioGone" in detached[0]
        return [r1.outcome, r2.outcome]

    assert asyncio.run(main()) == [PlayOutcome.COMPLETED, PlayOutcome.DETACHED]


def test_bridge_carries_tones_both_ways_across_rates() -> None:
    rig = Rig()
    a = rig.audio(8000, rx_source=dsp.tone(440, 1000, 8000, ramp_ms=0))
    b = rig.audio(16000, rx_source=dsp.tone(1000, 1000, 16000, ramp_ms=0))
    la, lb = rig.core.attach(a, leg_id="a"), rig.core.attach(b, leg_id="b")
    rec = CallRecorder()
    br = rig.core.bridge(la, lb, mix_sink=rec)
    rig.run(0.8)
    heard_by_b, heard_by_a = b.heard(), a.heard()
    assert len(heard_by_b) >= 0.6 * 32000 and len(heard_by_a) >= 0.6 * 16000
    assert dsp.dominant_frequency(heard_by_b[-16000:], 16000, FREQS) == 440
    assert dsp.dominant_frequency(heard_by_a[-8000:], 8000, FREQS) == 1000
    assert a.gaps == [] and b.gaps == []  # the bridge's playout buffer paces it without holes
    br.unbridge()
    recording = rig.result(rec, 2)
    assert recording.end_reason == "unbridged"
    pcm, rate = dsp.read_wav(recording.wav)
    assert rate == 8000 and recording.duration_s >= 0.6
    tail = pcm[-8000:]
    assert dsp.tone_power(tail, 8000, 440) > 0.01 and dsp.tone_power(tail, 8000, 1000) > 0.01
    written = b.written_bytes
    rig.run(0.1)
    assert b.written_bytes == written  # unbridged: nothing flows any more


def test_a_prompt_to_a_bridged_leg_takes_the_line() -> None:
    rig = Rig()
    a = rig.audio(8000, rx_source=dsp.tone(440, 1000, 8000))
    b = rig.audio(8000)
    la, lb = rig.core.attach(a), rig.core.attach(b)
    rig.core.bridge(la, lb)
    rig.run(0.2)
    before = len(b.heard())
    rig.result(lb.play(dsp.tone(1000, 300, 8000)), 2)
    announced = b.heard()[before : before + 250 * 16]
    assert dsp.dominant_frequency(announced, 8000, FREQS) == 1000


def test_a_failing_leg_is_detached_and_the_others_play_on() -> None:
    rig = Rig()
    good, bad = rig.audio(8000), rig.audio(8000)
    reasons: list[str] = []
    lg = rig.core.attach(good)
    lbad = rig.core.attach(bad, on_detached=reasons.append)
    peer = rig.core.attach(rig.audio(8000))
    sink = Sink()
    lbad.record(sink)
    rig.core.bridge(lbad, peer)
    p_good = lg.play(dsp.tone(440, 800, 8000))
    p_bad = lbad.play(dsp.tone(440, 800, 8000))
    rig.run(0.2)
    bad.hang_up()
    assert rig.result(p_bad, 1).outcome is PlayOutcome.DETACHED
    assert rig.result(p_good, 2).outcome is PlayOutcome.COMPLETED
    assert rig.run_until(lambda: bool(reasons), 3)
    assert "AudioGone" in reasons[0] and lbad.detached
    assert sink.end is not None
    assert good.gaps == []
    assert rig.core.stats.legs == 2 and rig.core.stats.bridges == 0
    # Commands for the gone leg are answered, not lost.
    assert rig.result(lbad.play(b"\0\0" * 160), 1).outcome is PlayOutcome.DETACHED


def test_a_leg_that_ends_quietly_under_a_prompt_is_let_go() -> None:
    rig = Rig()
    rig.core.STALL_S = 0.3
    audio = rig.audio(8000)
    reasons: list[str] = []
    leg = rig.core.attach(audio, on_detached=reasons.append)
    p = leg.play(dsp.tone(440, 5000, 8000))
    rig.run(0.2)
    audio.end_quietly()  # the SIP port's LegAudio after BYE: no exception, no audio
    assert rig.result(p, 2).outcome is PlayOutcome.DETACHED
    assert rig.run_until(lambda: reasons == ["audio stalled"], 3)
    assert leg.underruns == 0


def test_a_full_buffer_is_not_an_underrun() -> None:
    rig = Rig()
    audio = rig.audio(8000, capacity_ms=30)  # takes less than the engine's 60 ms lead
    leg = rig.core.attach(audio)
    assert rig.result(leg.play(dsp.tone(440, 600, 8000)), 3).outcome is PlayOutcome.COMPLETED
    assert audio.rejected_bytes > 0 and audio.written_bytes == 9600
    assert leg.underruns == 0


def test_a_failing_sink_is_dropped_and_the_leg_lives() -> None:
    class Broken(Sink):
        def feed(self, pcm: bytes, rate: int) -> None:
            raise RuntimeError("disk full")

    rig = Rig()
    audio = rig.audio(8000, rx_source=dsp.tone(440, 100, 8000))
    leg = rig.core.attach(audio)
    broken, ok = Broken(), Sink()
    leg.record(broken)
    leg.record(ok)
    rig.run(0.2)
    assert broken.end is not None and "disk full" in broken.end
    assert ok.end is None and len(ok.buf) > 0 and leg.detached is None


def test_leg_without_media_waits_until_ready() -> None:
    rig = Rig()
    audio = rig.audio(0)
    leg = rig.core.attach(audio)
    p = leg.play(dsp.tone(440, 200, 8000), rate=8000)
    rig.run(0.1)
    assert audio.written_bytes == 0 and not p.done()
    audio.rate = 16000
    assert rig.result(p, 2).outcome is PlayOutcome.COMPLETED
    assert dsp.dominant_frequency(audio.heard(), 16000, FREQS) == 440


def test_slow_wakeups_leave_no_gap() -> None:
    """A tap that stalls the pacing pass for 30 ms now and then: the 60 ms lead covers it."""
    rig = Rig()

    class Slow(Sink):
        n = 0

        def feed(self, pcm: bytes, rate: int) -> None:
            self.n += 1
            if self.n % 5 == 0:
                rig.clock.advance(0.03)  # the pass takes 30 ms: later writes are 30 ms late

    talker = rig.core.attach(rig.audio(8000, rx_source=dsp.tone(440, 100, 8000)))
    talker.record(Slow())
    audios = [rig.audio(8000) for _ in range(8)]
    legs = [rig.core.attach(a) for a in audios]
    plays = [leg.play(dsp.tone(440, 1000, 8000)) for leg in legs]
    for p in plays:
        assert rig.result(p, 3).outcome is PlayOutcome.COMPLETED
    assert all(a.gaps == [] for a in audios)
    assert sum(leg.underruns for leg in legs) == 0
    assert rig.core.stats.max_lateness_ms >= 9  # the stalls did make passes late


def test_many_legs_are_served_by_one_thread() -> None:
    clock = ManualClock(100.0)
    with MediaEngine(clock=clock) as engine:
        clock.settle(waiters=1)
        before = threading.active_count()
        audios = [MemoryAudio(8000, record_heard=False, clock=clock.monotonic) for _ in range(64)]
        legs = [engine.attach(a) for a in audios]
        assert threading.active_count() == before
        plays = [leg.play(dsp.tone(440, 600, 8000)) for leg in legs]
        advance_until(clock, lambda: all(p.done() for p in plays), 3)
        assert all(p.result(3).outcome is PlayOutcome.COMPLETED for p in plays)
        assert threading.active_count() == before
    # Real-time pacing (gaps, underruns) under load is measured by bench/edge_media.py, not
    # asserted here: a shared 2-core machine can miss a 20 ms tick without the engine being wrong.


def test_voicemail_through_the_engine() -> None:
    rig = Rig()
    audio = rig.audio(16000, rx_source=dsp.tone(440, 1000, 16000, ramp_ms=0))
    leg = rig.core.attach(audio)
    rec = VoicemailRecorder()
    tap = leg.record(rec)
    rig.run(1.3)
    rec.stop()  # '#'
    tap.remove()
    result = rig.result(rec, 1)
    assert result.reason is StopReason.DIGIT and result.wav is not None
    pcm, rate = dsp.read_wav(result.wav)
    assert rate == 8000 and 1.0 <= result.duration_s <= 1.5
    assert dsp.dominant_frequency(pcm, 8000, FREQS) == 440


def test_engine_stop_detaches_everything() -> None:
    clock = ManualClock(100.0)
    eng = MediaEngine(clock=clock)
    eng.start()
    leg = eng.attach(MemoryAudio(8000, clock=clock.monotonic))
    p = leg.play(dsp.tone(440, 5000, 8000))
    clock.settle(waiters=1)
    clock.advance(0.05)
    eng.stop()
    assert p.result(1).outcome is PlayOutcome.DETACHED
    assert leg.detached == "engine stopped"
