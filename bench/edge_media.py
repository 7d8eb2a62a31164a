"""Edge media engine benchmark: CPU of the one pacing thread serving 256 in-memory legs.

    .venv/bin/python bench/edge_media.py [--legs 256] [--seconds 3] [--runs 3] [--rate 8000]

Scenarios (each leg is a `MemoryAudio`: a transmit buffer draining on the wall clock and
a receive side producing 20 ms frames, like a SIP stack's audio object):

- idle:          legs attached, nothing to play (the cost of polling them),
- play:          every leg plays a long prompt (IVR greetings),
- bridge:        legs in pairs, each receiving a tone that the engine forwards to its peer,
- bridge+record: as bridge, and each pair mixed into a call recording,
- vm-record:     every leg's received audio goes to a voicemail recorder (silence detection).

For each, the CPU time of the pacing thread (`time.thread_time`) over `--seconds` after a
warm-up, as a median of `--runs` runs, is printed per leg (percent of one core) together
with gaps heard by the far ends, underruns, and the worst tick lateness. The in-memory legs'
own `write`/`read` run on the pacing thread too, so their cost is included: a real stack's
audio object is likely cheaper or similar (a locked ring buffer).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sip_edge.media import dsp
from sip_edge.media.engine import MediaEngine, MediaLeg
from sip_edge.media.memory_io import MemoryAudio
from sip_edge.media.recorder import CallRecorder, VoicemailRecorder

SCENARIOS = ["idle", "play", "bridge", "bridge+record", "vm-record"]


@dataclass
class Run:
    cpu_s: float
    wall_s: float
    gaps: int
    underruns: int
    max_lateness_ms: float
    late_ticks: int


def run_once(scenario: str, legs: int, seconds: float, rate: int) -> Run:
    rx = dsp.tone(440, 1000, rate) if scenario not in ("idle", "play") else b""
    audios = [MemoryAudio(rate, rx_source=rx, record_heard=False) for _ in range(legs)]
    prompt = dsp.tone(440, (seconds + 2) * 1000, rate)
    with MediaEngine() as eng:
        handles: list[MediaLeg] = [eng.attach(a, leg_id=f"b{i}") for i, a in enumerate(audios)]
        if scenario == "play":
            for h in handles:
                h.play(prompt)
        elif scenario.startswith("bridge"):
            for i in range(0, legs - 1, 2):
                sink = CallRecorder() if scenario == "bridge+record" else None
                eng.bridge(handles[i], handles[i + 1], mix_sink=sink)
        elif scenario == "vm-record":
            for h in handles:
                h.record(VoicemailRecorder(silence_s=60))
        time.sleep(0.5)  # warm-up: buffers primed, first ticks done
        cpu0, t0 = eng.stats.cpu_seconds, time.monotonic()
        gaps0 = sum(len(a.gaps) for a in audios)
        time.sleep(seconds)
        cpu1, t1 = eng.stats.cpu_seconds, time.monotonic()
        gaps = sum(len(a.gaps) for a in audios) - gaps0
        stats = eng.stats
        return Run(cpu1 - cpu0, t1 - t0, gaps, stats.underruns, stats.max_lateness_ms, stats.late_ticks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--legs", type=int, default=256)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rate", type=int, default=8000)
    ap.add_argument("--scenario", choices=SCENARIOS, action="append")
    args = ap.parse_args()
    print(
        f"media engine: {args.legs} legs at {args.rate} Hz, one pacing thread, "
        f"median of {args.runs} runs of {args.seconds}s"
    )
    head = f"{'scenario':<14} {'core %':>8} {'per leg %':>10} {'us/leg/tick':>12} {'gaps':>5}"
    print(head + f" {'underruns':>10} {'max late ms':>12} {'late ticks':>11}")
    for scenario in args.scenario or SCENARIOS:
        runs = [run_once(scenario, args.legs, args.seconds, args.rate) for _ in range(args.runs)]
        load = statistics.median(r.cpu_s / r.wall_s for r in runs)  # fraction of one core
        per_leg = load / args.legs
        us_per_tick = per_leg * 0.02 * 1e6
        print(
            f"{scenario:<14} {load * 100:>8.2f} {per_leg * 100:>10.4f} {us_per_tick:>12.1f} "
            f"{max(r.gaps for r in runs):>5} {max(r.underruns for r in runs):>10} "
            f"{max(r.max_lateness_ms for r in runs):>12.1f} {max(r.late_ticks for r in runs):>11}"
        )


if __name__ == "__main__":
    main()
