"""Edge media engine benchmark: CPU per leg per second of audio, 256 in-memory legs.

    .venv/bin/python bench/edge_media.py [--legs 256] [--seconds 3] [--runs 5] [--rate 8000]
                                         [--scenario NAME ...] [--no-anchor] [--no-pacing]

Scenarios (each leg is a `MemoryAudio`: a transmit buffer draining on its clock and a
receive side producing 20 ms frames, like a SIP stack's audio object):

- idle:                legs attached, nothing to play (the cost of polling them),
- play:                every leg plays a long prompt (IVR greetings),
- bridge:              legs in pairs, each receiving a tone that the engine forwards to its peer,
- bridge+record:       as bridge, and each pair mixed into a call recording,
- bridge-mixed+record: as bridge+record with one leg of each pair at 16 kHz (or 8 kHz when
                       --rate is 16000): both directions and the recording are resampled,
- vm-record:           every leg's received audio goes to a voicemail recorder (levels).

The CPU table: the media core (`MediaCore`, what the pacing thread runs) ticked every
20 ms of virtual time, legs on the same clock, so that each run does exactly `--seconds`
of audio whatever else the machine is doing; the process CPU time it takes
(``time.process_time``: every thread, so work a library might do off the calling thread
counts too) divided by legs x seconds, in milliseconds of CPU per leg per second of audio
(10 ms/s is 1% of a core), the median of `--runs` runs. The in-memory legs' own
``write``/``read`` are included: a real stack's audio object is likely cheaper or similar
(a locked ring buffer).

- ours: the engine as it is (numpy and soxr DSP).
- anchor: the same engine and scenarios with the DSP it had before (per-sample Python
  resampling with a box-filter decimator, mixing and RMS: `_PyResampler`, `_py_mix`,
  `_py_rms` below, swapped into `sip_edge.media.dsp` for the run), measured in the same
  process on the same machine.
- target: <= 2.5 ms per leg per second (0.25% of a core): 200 legs (100 bridged calls, the
  concurrency `bench/sip_edge.py` asks of one core) within half of that core, the other half
  left to SIP and RTP.

The pacing table runs the real thing: `MediaEngine`'s thread on the wall clock for
`--seconds` after a warm-up, and gives per scenario the gaps heard by the far ends,
underruns, the worst tick lateness, ticks that ran more than a frame late, and the
process CPU per leg per second of wall time (marked * when the thread fell behind: it then
takes bigger chunks per pass, so that figure reads low).
Figures are for the table, not assertions: this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import operator
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sip_edge.media import dsp
from sip_edge.media.core import Bridge, MediaCore, MediaLeg
from sip_edge.media.engine import MediaEngine
from sip_edge.media.memory_io import MemoryAudio
from sip_edge.media.recorder import CallRecorder, VoicemailRecorder

SCENARIOS = ["idle", "play", "bridge", "bridge+record", "bridge-mixed+record", "vm-record"]
TARGET_MS_PER_LEG_S = 2.5
WARM_UP_S = 0.5


class Engine(Protocol):  # MediaEngine or MediaCore: what a scenario needs
    def attach(self, audio: MemoryAudio, *, leg_id: str | None = None) -> MediaLeg: ...

    def bridge(self, a: MediaLeg, b: MediaLeg, *, mix_sink: CallRecorder | None = None) -> Bridge: ...


def build(
    engine: Engine, scenario: str, legs: int, seconds: float, rate: int, clock: Callable[[], float]
) -> list[MemoryAudio]:
    """The scenario's legs, attached and set going; their audio objects."""
    other = 16000 if rate != 16000 else 8000
    rates = [other if scenario == "bridge-mixed+record" and i % 2 else rate for i in range(legs)]
    rx = scenario not in ("idle", "play")
    audios = [
        MemoryAudio(
            r,
            rx_source=dsp.tone(440 if i % 2 else 1000, 1000, r) if rx else b"",
            record_heard=False,
            clock=clock,
        )
        for i, r in enumerate(rates)
    ]
    prompt = dsp.tone(440, (seconds + 2) * 1000, rate)
    handles = [engine.attach(a, leg_id=f"b{i}") for i, a in enumerate(audios)]
    if scenario == "play":
        for h in handles:
            h.play(prompt)
    elif scenario.startswith("bridge"):
        for i in range(0, legs - 1, 2):
            sink = CallRecorder() if scenario.endswith("+record") else None
            engine.bridge(handles[i], handles[i + 1], mix_sink=sink)
    elif scenario == "vm-record":
        for h in handles:
            h.record(VoicemailRecorder(silence_s=60))
    return audios


class _VirtualTime:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def cpu_per_leg(scenario: str, legs: int, seconds: float, rate: int) -> float:
    """ms of process CPU per leg per second of audio, the core ticked on virtual time
    (every 20 ms, 0.3 ms late like a thread's wake-up)."""
    now = _VirtualTime()
    core = MediaCore()
    build(core, scenario, legs, seconds, rate, now)

    def run(s: float) -> None:
        for _ in range(round(s * 1000 / core.frame_ms)):
            core.tick(now.t)
            now.t = core.next_due(now.t) + 0.0003

    run(WARM_UP_S)  # buffers primed, first ticks done
    cpu0 = time.process_time()
    run(seconds)
    cpu = time.process_time() - cpu0
    core.close(now.t)
    return cpu / (legs * seconds) * 1000


@dataclass
class Paced:
    cpu_s: float  # process CPU over the window
    wall_s: float
    gaps: int
    underruns: int
    max_lateness_ms: float
    late_ticks: int

    def ms_per_leg_s(self, legs: int) -> float:
        return self.cpu_s / (legs * self.wall_s) * 1000


def run_paced(scenario: str, legs: int, seconds: float, rate: int) -> Paced:
    """The scenario on `MediaEngine`'s thread and the wall clock."""
    with MediaEngine() as eng:
        audios = build(eng, scenario, legs, seconds, rate, time.monotonic)
        time.sleep(WARM_UP_S)  # buffers primed, first ticks done
        cpu0, t0 = time.process_time(), time.monotonic()
        gaps0 = sum(len(a.gaps) for a in audios)
        time.sleep(seconds)
        cpu1, t1 = time.process_time(), time.monotonic()
        gaps = sum(len(a.gaps) for a in audios) - gaps0
        st = eng.stats
        return Paced(cpu1 - cpu0, t1 - t0, gaps, st.underruns, st.max_lateness_ms, st.late_ticks)


# --------------------------------------------------------------------------- the anchor's DSP


def _py_samples(pcm: bytes) -> array.array[int]:
    a = array.array("h")
    a.frombytes(pcm[: len(pcm) - (len(pcm) & 1)])
    return a


def _py_rms(pcm: bytes) -> float:
    a = _py_samples(pcm)
    return (sum(map(operator.mul, a, a)) / len(a)) ** 0.5 if a else 0.0


def _py_sat(v: int) -> int:
    return 32767 if v > 32767 else -32768 if v < -32768 else v


def _py_mix(a: bytes, b: bytes) -> bytes:
    if not a or not b:
        return bytes(a or b)
    xa, xb = _py_samples(a), _py_samples(b)
    if len(xa) < len(xb):
        xa, xb = xb, xa
    summed = list(map(operator.add, xa, xb))
    if summed and (max(summed) > 32767 or min(summed) < -32768):
        summed = list(map(_py_sat, summed))
    out = array.array("h", summed)
    out.extend(xa[len(xb) :])
    return out.tobytes()


class _PyResampler:
    """The former `dsp.Resampler`: per-sample Python; integer down-ratios average each group
    of samples (a box filter, which aliases), integer up-ratios and others interpolate
    linearly."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate, self.dst_rate = src_rate, dst_rate
        self._last = 0
        self._pos = 0.0
        self._pending = array.array("h")

    def process(self, pcm: bytes) -> bytes:
        x = _py_samples(pcm)
        src, dst = self.src_rate, self.dst_rate
        if src == dst or not x:
            return x.tobytes()
        if src % dst == 0:
            return self._decimate(x, src // dst)
        if dst % src == 0:
            return self._upsample(x, dst // src)
        return self._linear(x)

    def _decimate(self, x: array.array[int], m: int) -> bytes:
        buf = self._pending
        buf.extend(x)
        n = len(buf) // m
        if m == 2:
            out = array.array("h", map(lambda a, b: (a + b) >> 1, buf[0 : 2 * n : 2], buf[1 : 2 * n : 2]))
        else:
            out = array.array("h", (sum(buf[i * m : i * m + m]) // m for i in range(n)))
        self._pending = buf[n * m :]
        return out.tobytes()

    def _upsample(self, x: array.array[int], k: int) -> bytes:
        out = array.array("h", bytes(len(x) * k * 2))
        prev = self._last
        j = 0
        for cur in x:
            d = cur - prev
            for step in range(1, k + 1):
                out[j] = prev + d * step // k
                j += 1
            prev = cur
        self._last = prev
        return out.tobytes()

    def _linear(self, x: array.array[int]) -> bytes:
        step = self.src_rate / self.dst_rate
        pos, prev, out, n = self._pos, self._last, array.array("h"), len(x)
        while pos <= n:
            i = int(pos)
            a = prev if i == 0 else x[i - 1]
            b = x[i] if i < n else x[n - 1]
            out.append(int(a + (b - a) * (pos - i)))
            pos += step
        self._pos, self._last = pos - n, x[n - 1]
        return out.tobytes()


@contextlib.contextmanager
def python_dsp() -> Iterator[None]:
    """Swap the anchor's DSP into `sip_edge.media.dsp` (the engine and the recorders look
    these up at call time)."""
    swap = {"Resampler": _PyResampler, "mix": _py_mix, "rms": _py_rms}
    saved = {name: getattr(dsp, name) for name in swap}
    for name, fn in swap.items():
        setattr(dsp, name, fn)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(dsp, name, fn)


# --------------------------------------------------------------------------- report


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--legs", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rate", type=int, default=8000)
    ap.add_argument("--scenario", choices=SCENARIOS, action="append")
    ap.add_argument("--no-anchor", action="store_true", help="measure ours only")
    ap.add_argument("--no-pacing", action="store_true", help="skip the wall-clock runs")
    args = ap.parse_args()
    scenarios = args.scenario or SCENARIOS
    legs, seconds, rate = args.legs, args.seconds, args.rate
    ours: dict[str, float] = {}
    anchor: dict[str, float] = {}
    paced: dict[str, list[Paced]] = {}
    for scenario in scenarios:
        ours[scenario] = statistics.median(
            cpu_per_leg(scenario, legs, seconds, rate) for _ in range(args.runs)
        )
        if not args.no_anchor:
            with python_dsp():
                anchor[scenario] = statistics.median(
                    cpu_per_leg(scenario, legs, seconds, rate) for _ in range(args.runs)
                )
        if not args.no_pacing:
            paced[scenario] = [run_paced(scenario, legs, seconds, rate) for _ in range(args.runs)]

    rows = [
        (
            f"CPU per leg, {scenario}",
            f"{ours[scenario]:.3f} ms/s",
            f"{anchor[scenario]:.3f} ms/s" if scenario in anchor else "-",
        )
        for scenario in scenarios
    ]
    print(
        f"\nEdge media benchmark: {legs} in-memory legs at {rate} Hz, {os.cpu_count()} cores; "
        f"medians of {args.runs} runs of {seconds:g} s of audio\n"
        "CPU = process CPU time per leg per second of audio (10 ms/s = 1% of a core), the core "
        "ticked on virtual time; anchor = the same engine with per-sample Python DSP\n"
    )
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len("anchor"), *(len(r[2]) for r in rows))
    print(f"{'measure':<{w0}}  {'ours':<{w1}}  {'anchor':<{w2}}  target")
    print(f"{'-' * w0}  {'-' * w1}  {'-' * w2}  ------")
    for name, o, a in rows:
        print(f"{name:<{w0}}  {o:<{w1}}  {a:<{w2}}  <= {TARGET_MS_PER_LEG_S:g} ms/s")
    if not paced:
        return
    print(
        f"\nPacing of ours on the wall clock, one pacing thread (worst of {args.runs} runs; "
        "CPU: median, * = the thread fell behind in some run)\n"
    )
    print(
        f"{'scenario':<20} {'gaps':>5} {'underruns':>10} {'max late ms':>12} {'late ticks':>11} "
        f"{'CPU ms/s':>10}"
    )
    for scenario, runs in paced.items():
        behind = "*" if any(r.late_ticks or r.gaps for r in runs) else " "
        cpu = statistics.median(r.ms_per_leg_s(legs) for r in runs)
        print(
            f"{scenario:<20} {max(r.gaps for r in runs):>5} {max(r.underruns for r in runs):>10} "
            f"{max(r.max_lateness_ms for r in runs):>12.1f} {max(r.late_ticks for r in runs):>11} "
            f"{cpu:>9.3f}{behind}"
        )


if __name__ == "__main__":
    main()
