"""The media core without its thread: it reads no clock, is deterministic for a given
sequence of ``tick(now)``, accounts late passes, serves a command between passes; the
bridge mixer on given times; the thread shell on an injected clock."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from sip_edge.media import dsp
from sip_edge.media.clock import ManualClock
from sip_edge.media.core import MediaCore
from sip_edge.media.engine import MediaEngine
from sip_edge.media.memory_io import MemoryAudio
from sip_edge.media.mixer import BridgeMixer
from sip_edge.media.recorder import CallRecorder


class Now:
    """A bare virtual clock: a float the test moves."""

    def __init__(self, t: float = 50.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def scenario(now: Now, core: MediaCore) -> list[MemoryAudio]:
    """A prompt resampled to a 16 kHz leg, and an 8 kHz leg bridged to a 16 kHz one with the
    bridge recorded: 1.5 s of passes on exact 20 ms steps (+0.3 ms of wake-up latency)."""
    audios = [
        MemoryAudio(16000, clock=now),
        MemoryAudio(8000, clock=now, rx_source=dsp.tone(440, 500, 8000)),
        MemoryAudio(16000, clock=now, rx_source=dsp.tone(1000, 500, 16000)),
    ]
    legs = [core.attach(a, leg_id=f"l{i}") for i, a in enumerate(audios)]
    legs[0].play(dsp.tone(697, 700, 8000), rate=8000)
    core.bridge(legs[1], legs[2], mix_sink=CallRecorder())
    for _ in range(75):
        core.tick(now.t)
        now.t = core.next_due(now.t) + 0.0003
    return audios


def test_the_core_reads_no_clock_and_starts_no_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*_: object, **__: object) -> float:
        raise AssertionError("the media core must not read a clock, sleep or start a thread")

    for name in ("time", "monotonic", "perf_counter", "thread_time", "process_time", "sleep"):
        monkeypatch.setattr(time, name, forbidden)
    monkeypatch.setattr(threading.Thread, "start", forbidden)
    monkeypatch.setattr(logging.getLogger("sip_edge.media.engine"), "disabled", True)
    now = Now()
    audios = scenario(now, MediaCore())
    assert all(a.written_bytes > 0 for a in audios)


def test_the_same_ticks_give_the_same_audio() -> None:
    runs = []
    for _ in range(2):
        now = Now()
        audios = scenario(now, MediaCore())
        runs.append([(a.writes, a.heard(), a.gaps) for a in audios])
    assert runs[0] == runs[1]
    assert all(heard for _, heard, _ in runs[0])


def test_a_late_pass_is_counted_and_the_schedule_skips_ahead() -> None:
    core = MediaCore()
    assert core.next_due(10.0) == 10.0  # before the first pass: due at once
    assert core.tick(10.0) == pytest.approx(10.02)
    assert core.tick(10.1) == pytest.approx(10.12)  # 80 ms late: no burst of catch-up passes
    assert core.stats.ticks == 2 and core.stats.late_ticks == 1
    assert core.stats.max_lateness_ms == pytest.approx(80)
    assert core.tick(10.121) == pytest.approx(10.14)
    assert core.stats.late_ticks == 1


def test_a_command_between_passes_is_served_at_once() -> None:
    now = Now(5.0)
    core = MediaCore()
    audio = MemoryAudio(8000, clock=now)
    leg = core.attach(audio)
    core.tick(now.t)  # the pass at 5.0; the next is due at 5.02
    now.t = 5.007
    leg.play(dsp.tone(440, 200, 8000))
    assert core.tick(now.t) == pytest.approx(5.02)  # not a pass
    assert core.stats.ticks == 1
    assert {t for t, _ in audio.writes} == {5.007}  # the lead (60 ms) written at once
    assert len(audio.writes) >= 3


def test_the_core_calls_on_command_and_delivers_detaches() -> None:
    woken: list[int] = []
    delivered: list[str] = []

    def deliver(fn: Callable[[str], None], reason: str) -> None:
        delivered.append(reason)
        fn(reason)

    got: list[str] = []
    core = MediaCore(deliver=deliver, on_command=lambda: woken.append(1))
    leg = core.attach(MemoryAudio(8000, clock=Now()), on_detached=got.append)
    leg.detach("bye")
    assert len(woken) == 2 and got == []  # queued: nothing happens before a tick
    core.tick(1.0)
    assert delivered == ["bye"] and got == ["bye"] and core.leg_count == 0


def test_close_detaches_every_leg() -> None:
    core = MediaCore()
    legs = [core.attach(MemoryAudio(8000, clock=Now())) for _ in range(3)]
    p = legs[0].play(dsp.tone(440, 500, 8000))
    core.close(1.0)
    assert [leg.detached for leg in legs] == ["engine stopped"] * 3
    assert p.result(0).outcome.value == "detached"


class Collect:
    def __init__(self) -> None:
        self.pcm = bytearray()
        self.rates: set[int] = set()

    def feed(self, pcm: bytes, rate: int) -> None:
        self.pcm += pcm
        self.rates.add(rate)

    def ended(self, reason: str) -> None:
        pass


def test_the_mixer_emits_on_the_given_times_and_saturates() -> None:
    sink = Collect()
    mixer = BridgeMixer(sink, 8000)
    mixer.pump(1.0)
    assert not sink.pcm  # not begun
    mixer.begin(1.0)
    mixer.pump(1.0 + mixer.DELAY_S)
    assert not sink.pcm  # the jitter allowance
    mixer.push(0, dsp.to_bytes([30000] * 800), 8000)
    mixer.push(1, dsp.to_bytes([30000] * 400), 8000)
    mixer.pump(1.0 + mixer.DELAY_S + 0.1 + 1e-9)  # 100 ms due: 800 samples
    out = list(dsp.samples(bytes(sink.pcm)))
    assert len(out) == 800 and sink.rates == {8000}
    assert out[:400] == [32767] * 400 and out[400:] == [30000] * 400
    mixer.pump(1.0 + mixer.DELAY_S + 0.15 + 1e-9)  # nothing queued: silence keeps the time line
    assert len(sink.pcm) == 1200 * 2 and not any(sink.pcm[1600:])


def test_the_mixer_resamples_a_side_to_its_rate() -> None:
    sink = Collect()
    mixer = BridgeMixer(sink, 8000)
    mixer.begin(0.0)
    tone = dsp.tone(1000, 200, 16000, ramp_ms=0)
    for i in range(0, len(tone), 640):
        mixer.push(1, tone[i : i + 640], 16000)
    mixer.pump(mixer.DELAY_S + 0.2 + 1e-9)
    assert len(sink.pcm) == 1600 * 2
    assert dsp.dominant_frequency(bytes(sink.pcm[800:]), 8000, [440, 1000]) == 1000


def test_the_engine_thread_paces_on_its_injected_clock() -> None:
    clock = ManualClock(200.0)
    with MediaEngine(clock=clock) as engine:
        clock.settle(waiters=1)
        assert engine.stats.ticks == 1  # the first pass, at once
        clock.advance(0.1)  # one wake-up, 80 ms after the pass it was due for
        assert engine.stats.ticks == 2 and engine.stats.late_ticks == 1
        assert engine.stats.max_lateness_ms == pytest.approx(80)
        leg = engine.attach(MemoryAudio(8000, clock=clock.monotonic))
        clock.settle()
        assert engine.leg_count == 1 and leg.detached is None
    assert leg.detached == "engine stopped"


def test_engine_settings_are_its_cores() -> None:
    engine = MediaEngine(frame_ms=10, lead_ms=40)
    assert MediaEngine.STALL_S == MediaCore.STALL_S
    engine.STALL_S = 0.3
    assert engine.core.STALL_S == 0.3 and MediaCore.STALL_S == 5.0
    assert (engine.frame_ms, engine.frame_s, engine.lead_s) == (10, 0.01, 0.04)
    assert engine.stats is engine.core.stats
