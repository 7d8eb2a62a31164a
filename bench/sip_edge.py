"""SIP edge benchmark: one edge process pinned to one core, driven by SIPp; one table of figures.

    .venv/bin/python bench/sip_edge.py [--levels 100,200,250] [--rates 20,40] [--runs 1]

The whole platform runs (LocalStack: Azurite, 3 ConfigDB nodes, the functions host); a tenant is
configured through the API: a LOAD number whose menu greeting is a 30 s tone prompt (uploaded, so
every call gets continuous audio from the edge) and an IVR number whose two menus (chimes) send
each other on key 3. The edge runs under `taskset -c 0`; this script, SIPp and the platform are
kept on the other cores.

Figures (per run; with --runs > 1 the table shows the median of the runs):

- setup rate R (calls/s): SIPp offers R calls/s (`-r R`), each 1 s of audio then BYE; a rate is
  sustained when <= 1% of calls fail. INVITE->200 p50/p99 comes from SIPp's per-call response time
  (`-trace_rtt`) at that rate, and the edge's own answer time from its `invite_answered` log.
- concurrency N: SIPp ramps to N calls with audio both ways (pcap tone in, the 30 s prompt out) and
  holds them on a plateau. It passes when <= 1% of calls fail, the media engine counted no underrun
  (`underruns` of the edge's `media_leg_detached` log events: /metrics does not export them), and
  two RTP probes on LOAD calls heard the prompt without a gap (no silent frame inside the prompt,
  no inter-arrival over 60 ms). Two DTMF probes on the IVR number press 3 after each prompt has
  ended and time the key (first RFC 2833 packet sent) to the first audible frame of the next
  prompt, under that load; the edge's "dtmf" log line splits that time into the key reaching
  the call's loop (wire, RFC 4733 decoding, hand-over) and the switch to the next prompt (IVR,
  media engine, the stack's transmit pacing). Target: p99 <= 60 ms from key-down.
- CPU: the edge process's utime+stime from /proc/<pid>/stat over the plateau (% of one core).

The probes are this script's own UDP sockets: SIPp signals (`bench/sipp/uac_probe.xml` puts the
probe's port in the SDP), the probe sends PCMU and RFC 2833 events and timestamps what it receives.
Figures are for the table, not assertions: this machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import bisect
import calendar
import contextlib
import csv
import io
import json
import math
import os
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra.local.configdb_cluster import free_port
from infra.local.managed import ManagedProcess, http_ok
from infra.local.stack import LocalStack, signup_verified
from tests.tools.edge_sipp import Sipp, build

BENCH_SIPP = Path(__file__).resolve().parent / "sipp"
LOAD_NUMBER = "15557770300"
IVR_NUMBER = "15557770301"
EDGE_CPU = 0
OTHER_CPUS = set(range(os.cpu_count() or 1)) - {EDGE_CPU} or {EDGE_CPU}
SIPP_CPU = min(OTHER_CPUS)
TICK = os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# --------------------------------------------------------------------------- the platform


def tone_wav(seconds: float, hz: float = 600.0, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(9000 * math.sin(2 * math.pi * hz * i / rate)))
                for i in range(int(rate * seconds))
            )
        )
    return out.getvalue()


def configure(stack: LocalStack) -> None:
    _tenant, access = signup_verified(stack, "owner@edge-bench.example", company="Edge Bench")
    with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {access}"}, timeout=20) as api:
        up = api.post(
            "/prompts", files={"file": ("long.wav", tone_wav(30.0), "audio/wav")}, data={"name": "Long"}
        )
        up.raise_for_status()
        pid = up.json()["id"]
        deadline = time.monotonic() + 60
        while api.get(f"/prompts/{pid}").json()["status"] == "processing":
            if time.monotonic() > deadline:
                raise TimeoutError("the prompt was not converted")
            time.sleep(0.3)

        def menu(body: dict[str, Any]) -> str:
            r = api.post("/ivr-menus", json=body)
            r.raise_for_status()
            return str(r.json()["id"])

        load = menu({"name": "Load", "greeting": {"prompt_id": pid}, "timeout_s": 60})
        b = menu({"name": "B", "greeting": {"text": "Menu B. Press 3."}, "timeout_s": 30, "max_invalid": 10})
        a = menu(
            {
                "name": "A",
                "greeting": {"text": "Menu A. Press 3."},
                "options": [{"digit": "3", "action": {"type": "go_menu", "menu_id": b}}],
                "timeout_s": 30,
                "max_invalid": 10,
            }
        )
        r = api.patch(
            f"/ivr-menus/{b}", json={"options": [{"digit": "3", "action": {"type": "go_menu", "menu_id": a}}]}
        )
        r.raise_for_status()
        for number, menu_id in ((LOAD_NUMBER, load), (IVR_NUMBER, a)):
            api.post(
                "/numbers", json={"number": f"+{number}", "entry": {"type": "menu", "id": menu_id}}
            ).raise_for_status()


@dataclass
class Edge:
    proc: ManagedProcess
    sip_port: int
    control_port: int

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    @property
    def pid(self) -> int:
        assert self.proc.pid is not None
        return self.proc.pid

    def log_size(self) -> int:
        return self.proc.log_path.stat().st_size

    def events_since(self, offset: int) -> list[dict[str, Any]]:
        with open(self.proc.log_path, "rb") as f:
            f.seek(offset)
            data = f.read().decode(errors="replace")
        out = []
        for line in data.splitlines():
            if line.startswith('{"ts"'):
                with contextlib.suppress(ValueError):
                    out.append(json.loads(line))
        return out

    def active_calls(self) -> int:
        try:
            return int(
                httpx.get(f"http://127.0.0.1:{self.control_port}/health", timeout=2).json()["active_calls"]
            )
        except (httpx.HTTPError, KeyError, ValueError):
            return -1


def start_edge(stack: LocalStack, base: Path) -> Edge:
    sip_port, control_port = free_port(), free_port()
    proc = ManagedProcess(
        "sip_edge",
        ["taskset", "-c", str(EDGE_CPU), sys.executable, "-m", "sip_edge", "--data-dir", str(base / "edge")],
        base / "edge.log",
        http_ok(f"http://127.0.0.1:{control_port}/health"),
        env={
            **stack.settings.as_env(),
            "SIP_HOST": "127.0.0.1",
            "SIP_PORT": str(sip_port),
            "EDGE_CONTROL_PORT": str(control_port),
            "PROVIDER_ADDRESS": f"127.0.0.1:{free_port()}",
            "EDGE_DRAIN_SECONDS": "2",
            "EDGE_TENANT_SHARE": "1",  # the benchmark's one tenant may take every leg it measures
            # SIPp, one address, stands for the whole trunk: its arrivals are not a flood
            "SIP_INVITE_RATE_PER_SOURCE": "10000",
            "SIP_INVITE_BURST_PER_SOURCE": "10000",
        },
    )
    proc.start()
    try:
        proc.wait_ready(60)
    except BaseException:
        proc.stop()
        raise
    return Edge(proc, sip_port, control_port)


# --------------------------------------------------------------------------- the RTP probe


def _ulaw_table() -> list[int]:
    table = []
    for byte in range(256):
        u = ~byte & 0xFF
        t = ((u & 0x0F) << 3) + 0x84
        t <<= (u & 0x70) >> 4
        table.append((0x84 - t) if u & 0x80 else (t - 0x84))
    return table


ULAW = _ulaw_table()
SQUARES = [v * v for v in ULAW]
LOUD_MS = 300.0  # mean square of an audible frame: > -40 dBFS (rms ~ 330)
LOUD = (10 ** (-40 / 20) * 32768) ** 2


def loud(payload: bytes) -> bool:
    return bool(payload) and sum(SQUARES[b] for b in payload) / len(payload) > LOUD


@dataclass
class ProbeResult:
    latencies_ms: list[float] = field(default_factory=list)
    presses: list[float] = field(default_factory=list)  # wall clock of each key (first packet sent)
    timed: list[tuple[float, float]] = field(default_factory=list)  # (press wall clock, latency ms)
    packets: int = 0
    wire_gaps: int = 0  # inter-arrivals over 60 ms while a prompt played
    max_gap_ms: float = 0.0
    silent_frames: int = 0  # quiet frames inside a continuous prompt
    loud_frames: int = 0
    sipp_rc: int | None = None
    error: str | None = None


class Probe(threading.Thread):
    """One call: SIPp signals, this thread is the media end. mode "listen" (LOAD number: count
    gaps in the continuous prompt) or "dtmf" (IVR number: press 3 after each prompt, time it)."""

    def __init__(self, edge: Edge, number: str, workdir: Path, hold_s: float, mode: str) -> None:
        super().__init__(daemon=True)
        self.edge, self.number, self.workdir, self.hold_s, self.mode = edge, number, workdir, hold_s, mode
        self.result = ProbeResult()

    def run(self) -> None:
        try:
            self._run()
        except Exception as exc:
            self.result.error = f"{type(exc).__name__}: {exc}"

    def _run(self) -> None:
        r = self.result
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sipp = Sipp(
            BENCH_SIPP / "uac_probe.xml",
            self.edge.target,
            self.number,
            self.workdir,
            "-key",
            "probe_port",
            str(port),
            "-d",
            str(int(self.hold_s * 1000)),
            timeout_s=self.hold_s + 20,
            cpu=SIPP_CPU,
        )
        try:
            dest = ("127.0.0.1", sipp.rtp_port(10))
            seq, ts, ssrc = 1, 0, 0x0B0E0001
            silence = bytes([0xFF]) * 160
            start = time.monotonic()
            next_send = start
            event_queue: list[tuple[int, bytes]] = []  # (marker+pt, payload) sent one per 20 ms
            press_at: float | None = None
            last_loud = 0.0
            heard_prompt = False
            waiting_since: float | None = None  # key sent, next prompt not heard yet
            pressed_wall = 0.0  # wall clock of the key waited for (the edge's log is on it)
            prev_arrival = 0.0
            frames: list[bool] = []
            sock.settimeout(0.005)
            end = start + self.hold_s - 0.3
            while time.monotonic() < end and sipp.proc.poll() is None:
                now = time.monotonic()
                if now >= next_send:
                    if event_queue:
                        first, payload = event_queue.pop(0)
                        pkt = struct.pack("!BBHII", 0x80, first, seq & 0xFFFF, ts, ssrc) + payload
                        if first & 0x80:
                            waiting_since, pressed_wall = time.monotonic(), time.time()
                            r.presses.append(pressed_wall)
                        if not event_queue:
                            ts += 800
                    else:
                        pkt = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts, ssrc) + silence
                        ts += 160
                    sock.sendto(pkt, dest)
                    seq += 1
                    next_send += 0.02
                if (
                    self.mode == "dtmf"
                    and heard_prompt
                    and waiting_since is None
                    and not event_queue
                    and now - last_loud > 0.35
                ):
                    press_at = press_at or now + 0.1
                    if now >= press_at and end - now > 1.0:
                        press_at = None
                        event_queue = [
                            ((0x80 if i == 0 else 0) | 101, struct.pack("!BBH", 3, 10, 160 * (i + 1)))
                            for i in range(5)
                        ] + [(101, struct.pack("!BBH", 3, 0x80 | 10, 800))] * 3
                try:
                    data = sock.recv(2048)
                except TimeoutError:
                    continue
                t = time.monotonic()
                if len(data) < 12 or data[1] & 0x7F != 0:
                    continue
                r.packets += 1
                is_loud = loud(data[12:])
                if is_loud:
                    last_loud = t
                    heard_prompt = True
                    if waiting_since is not None:
                        r.latencies_ms.append((t - waiting_since) * 1000)
                        r.timed.append((pressed_wall, (t - waiting_since) * 1000))
                        waiting_since = None
                if self.mode == "listen":
                    if heard_prompt:
                        frames.append(is_loud)
                        gap = t - prev_arrival if prev_arrival else 0.0
                        if gap > 0.06:
                            r.wire_gaps += 1
                        r.max_gap_ms = max(r.max_gap_ms, gap * 1000)
                    prev_arrival = t
            if frames:
                while frames and not frames[-1]:
                    frames.pop()
                r.loud_frames = sum(frames)
                r.silent_frames = len(frames) - r.loud_frames
            rc, _ = sipp.wait(self.hold_s + 20)
            r.sipp_rc = rc
        finally:
            sipp.stop()
            sock.close()


# --------------------------------------------------------------------------- SIPp load


@dataclass
class SippRun:
    ok: int
    failed: int
    rtt_ms: list[float]
    elapsed_s: float


def sipp_load(
    edge: Edge, workdir: Path, *, rate: float, calls: int, limit: int, hold_ms: int, pcap: bytes
) -> tuple[Sipp, float]:
    sipp = Sipp(
        BENCH_SIPP / "uac_load.xml",
        edge.target,
        LOAD_NUMBER,
        workdir,
        "-r",
        f"{rate:g}",
        "-l",
        str(limit),
        "-d",
        str(hold_ms),
        "-recv_timeout",
        "8000",
        "-trace_stat",
        "-fd",
        "1",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        pcap=pcap,
        calls=calls,
        timeout_s=calls / rate + hold_ms / 1000 + 30,
        cpu=SIPP_CPU,
    )
    return sipp, time.monotonic()


def sipp_result(sipp: Sipp, started: float) -> SippRun:
    rc, _trace = sipp.wait()
    elapsed = time.monotonic() - started
    ok = failed = 0
    stats = sorted(sipp.workdir.glob("uac_load_*_.csv"))
    if stats:
        rows = list(csv.reader(stats[-1].read_text().splitlines(), delimiter=";"))
        head, last = rows[0], rows[-1]
        ok = int(last[head.index("SuccessfulCall(C)")])
        failed = int(last[head.index("FailedCall(C)")])
    rtt: list[float] = []
    for path in sipp.workdir.glob("uac_load_*_rtt.csv"):
        for row in csv.reader(path.read_text().splitlines()[1:], delimiter=";"):
            with contextlib.suppress(ValueError, IndexError):
                rtt.append(float(row[1]))
    if rc not in (0, 1) and not stats:
        raise RuntimeError(f"SIPp exited {rc}: {_trace[-2000:]}")
    return SippRun(ok, failed, rtt, elapsed)


@dataclass
class RatePhase:
    rate: float
    ok: int
    failed: int
    achieved: float
    rtt_p50: float
    rtt_p99: float
    edge_answer_p50: float
    edge_answer_p99: float
    cpu_pct: float


def setup_rate_phase(edge: Edge, base: Path, rate: float, seconds: float) -> RatePhase:
    calls = int(rate * seconds)
    offset = edge.log_size()
    cpu0, t0 = cpu_seconds(edge.pid), time.monotonic()
    sipp, started = sipp_load(
        edge, base, rate=rate, calls=calls, limit=calls, hold_ms=1000, pcap=build(1000.0, "", lead_ms=1000)
    )
    run = sipp_result(sipp, started)
    cpu = (cpu_seconds(edge.pid) - cpu0) / (time.monotonic() - t0) * 100
    answers = [
        float(e["answer_ms"]) for e in edge.events_since(offset) if e.get("event") == "invite_answered"
    ]
    arrivals = max(run.elapsed_s - 1.0, 1e-3)  # the last call's 1 s of audio is not setup time
    return RatePhase(
        rate,
        run.ok,
        run.failed,
        run.ok / arrivals,
        pct(run.rtt_ms, 50),
        pct(run.rtt_ms, 99),
        pct(answers, 50),
        pct(answers, 99),
        cpu,
    )


@dataclass
class ConcurrencyPhase:
    calls: int
    ok: int
    failed: int
    peak_active: int
    underruns: int
    legs_detached: int
    probe_wire_gaps: int
    probe_silent_frames: int
    probe_loud_frames: int
    probe_max_gap_ms: float
    probe_errors: int
    dtmf_ms: list[float]
    dtmf_acted_ms: list[float]  # key-down -> the edge's "dtmf" log (it acts on the digit)
    dtmf_switch_ms: list[float]  # that log -> the next prompt's first audible frame at the probe
    cpu_pct: float

    @property
    def passed(self) -> bool:
        return (
            self.failed <= 0.01 * self.calls
            and self.peak_active >= self.calls
            and self.underruns == 0
            and self.probe_wire_gaps == 0
            and self.probe_silent_frames == 0
            and self.probe_errors == 0
        )


def concurrency_phase(
    edge: Edge, base: Path, calls: int, ramp_rate: float, plateau_s: float
) -> ConcurrencyPhase:
    ramp_s = calls / ramp_rate
    hold_ms = int((ramp_s + plateau_s) * 1000)
    offset = edge.log_size()
    sipp, started = sipp_load(
        edge,
        base / "load",
        rate=ramp_rate,
        calls=calls,
        limit=calls,
        hold_ms=hold_ms,
        pcap=build(1000.0, "", lead_ms=hold_ms + 1000),
    )
    time.sleep(ramp_s + 0.5)
    probe_s = plateau_s - 1.5
    probes = [Probe(edge, LOAD_NUMBER, base / f"listen{i}", probe_s, "listen") for i in range(2)] + [
        Probe(edge, IVR_NUMBER, base / f"dtmf{i}", probe_s, "dtmf") for i in range(2)
    ]
    cpu0, t0 = cpu_seconds(edge.pid), time.monotonic()
    for p in probes:
        p.start()
    peak = 0
    while time.monotonic() - t0 < probe_s - 0.5:
        peak = max(peak, edge.active_calls())
        time.sleep(0.5)
    cpu = (cpu_seconds(edge.pid) - cpu0) / (time.monotonic() - t0) * 100
    for p in probes:
        p.join(probe_s + 30)
    run = sipp_result(sipp, started)
    time.sleep(1.0)
    events = edge.events_since(offset)
    detached = [e for e in events if e.get("event") == "media_leg_detached"]
    results = [p.result for p in probes]
    listen = results[:2]
    return ConcurrencyPhase(
        calls=calls,
        ok=run.ok,
        failed=run.failed,
        peak_active=peak - len(probes),
        underruns=sum(int(e.get("underruns") or 0) for e in detached),
        legs_detached=len(detached),
        probe_wire_gaps=sum(r.wire_gaps for r in listen),
        probe_silent_frames=sum(r.silent_frames for r in listen),
        probe_loud_frames=sum(r.loud_frames for r in listen),
        probe_max_gap_ms=max(r.max_gap_ms for r in listen),
        probe_errors=sum(1 for r in results if r.error or r.sipp_rc != 0),
        dtmf_ms=[x for r in results[2:] for x in r.latencies_ms],
        **split_dtmf([x for r in results[2:] for x in r.timed], events),
        cpu_pct=cpu,
    )


def _epoch(ts: str) -> float:
    """The edge log's "ts" (UTC, millisecond) as seconds since the epoch."""
    return calendar.timegm(time.strptime(ts[:19], "%Y-%m-%dT%H:%M:%S")) + int(ts[20:23]) / 1000


def split_dtmf(timed: list[tuple[float, float]], events: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Split each key-down -> next prompt latency at the edge's "dtmf" log line (written when
    the call's loop takes the digit): before it, the wire, the SIP stack's RFC 4733 decoding
    and the hand-over to the loop; after it, the IVR, the media engine and the stack's
    transmit pacing up to the probe hearing the prompt. Wall clocks of one machine; the log
    is to the millisecond."""
    acted = sorted(_epoch(e["ts"]) for e in events if e.get("event") == "dtmf" and "ts" in e)
    out: dict[str, list[float]] = {"dtmf_acted_ms": [], "dtmf_switch_ms": []}
    for pressed, latency_ms in timed:
        i = bisect.bisect_left(acted, pressed - 0.001)
        if i < len(acted) and acted[i] <= pressed + latency_ms / 1000:
            a = max(0.0, (acted[i] - pressed) * 1000)
            out["dtmf_acted_ms"].append(a)
            out["dtmf_switch_ms"].append(latency_ms - a)
    return out


# --------------------------------------------------------------------------- main


def med(values: list[float]) -> float:
    values = [v for v in values if not math.isnan(v)]
    return statistics.median(values) if values else math.nan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="100,150,200", help="concurrent calls to try (max 254: 256 legs)")
    ap.add_argument("--rates", default="20,30,40", help="setup rates to offer, calls/s")
    ap.add_argument("--rate-seconds", type=float, default=6.0, help="seconds of arrivals per rate")
    ap.add_argument("--ramp-rate", type=float, default=50.0, help="calls/s while ramping up")
    ap.add_argument("--plateau", type=float, default=9.0, help="seconds all calls are up together")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--keep", type=Path, help="work in this directory and keep it (logs, SIPp files)")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    rates = [float(x) for x in args.rates.split(",")]
    if len(OTHER_CPUS - {EDGE_CPU}) == 0:
        print("warning: one CPU only; the edge shares it with SIPp and the platform", file=sys.stderr)
    os.sched_setaffinity(0, OTHER_CPUS)  # the platform and SIPp inherit this; the edge gets core 0
    t_start = time.monotonic()
    with contextlib.ExitStack() as scope:
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            base = args.keep
        else:
            base = Path(scope.enter_context(tempfile.TemporaryDirectory(prefix="bench-edge-")))
        with LocalStack(base / "stack") as stack:
            configure(stack)
            # The functions host is configuration only here: left running, it consumes the
            # call-ended queue on SIPp's core and skews what SIPp measures.
            stack.host.stop()
            edge = start_edge(stack, base)
            try:
                idle0, it0 = cpu_seconds(edge.pid), time.monotonic()
                warm = Probe(edge, IVR_NUMBER, base / "warm", 4.0, "dtmf")
                warm.start()
                warm.join(30)
                if os.environ.get("BENCH_DEBUG"):
                    print("warm probe", warm.result, file=sys.stderr)
                warm_load = Probe(edge, LOAD_NUMBER, base / "warm-load", 2.0, "listen")
                warm_load.start()
                warm_load.join(30)
                time.sleep(1.0)
                idle_cpu = (cpu_seconds(edge.pid) - idle0) / (time.monotonic() - it0) * 100
                rate_runs: list[list[RatePhase]] = []
                conc_runs: list[list[ConcurrencyPhase]] = []
                for run in range(args.runs):
                    rate_runs.append(
                        [setup_rate_phase(edge, base / f"r{run}-{r:g}", r, args.rate_seconds) for r in rates]
                    )
                    time.sleep(2.0)
                    phases = []
                    for n in levels:
                        phases.append(
                            concurrency_phase(edge, base / f"c{run}-{n}", n, args.ramp_rate, args.plateau)
                        )
                        time.sleep(2.0)
                    conc_runs.append(phases)
                    print(
                        f"run {run + 1}/{args.runs} done at {time.monotonic() - t_start:.0f} s",
                        file=sys.stderr,
                    )
                report(rates, levels, rate_runs, conc_runs, idle_cpu, args, edge)
            finally:
                edge.proc.stop()


def report(
    rates: list[float],
    levels: list[int],
    rate_runs: list[list[RatePhase]],
    conc_runs: list[list[ConcurrencyPhase]],
    idle_cpu: float,
    args: argparse.Namespace,
    edge: Edge,
) -> None:
    runs = len(rate_runs)
    print(
        f"SIP edge bench: one edge process on core {EDGE_CPU} (taskset), "
        f"SIPp {'+'.join(map(str, sorted(OTHER_CPUS)))}; "
        f"{runs} run(s), medians; edge CPU = utime+stime of the process, % of one core"
    )
    print(f"edge CPU while (nearly) idle: {idle_cpu:.1f}%")
    print()
    print("setup rate (1 s calls, INVITE->200 from SIPp -trace_rtt; edge = its own answer_ms)")
    print(
        f"{'offered/s':>10} {'ok':>6} {'failed':>7} {'achieved/s':>11} {'200 p50 ms':>11} {'200 p99 ms':>11} "
        f"{'edge p50':>9} {'edge p99':>9} {'edge CPU':>9}"
    )
    sustained = 0.0
    for i, r in enumerate(rates):
        ph = [rr[i] for rr in rate_runs]
        failed = med([p.failed for p in ph])
        ok = med([p.ok for p in ph])
        achieved = med([p.achieved for p in ph])
        if failed <= 0.01 * (ok + failed) and achieved >= 0.95 * r:  # kept up with the offer
            sustained = max(sustained, min(r, achieved))
        print(
            f"{r:>10g} {ok:>6.0f} {failed:>7.0f} {achieved:>11.1f} {med([p.rtt_p50 for p in ph]):>11.1f} "
            f"{med([p.rtt_p99 for p in ph]):>11.1f} {med([p.edge_answer_p50 for p in ph]):>9.2f} "
            f"{med([p.edge_answer_p99 for p in ph]):>9.2f} {med([p.cpu_pct for p in ph]):>8.0f}%"
        )
    print()
    print(
        f"concurrency (calls with audio both ways; plateau {args.plateau:g} s; "
        "pass: <=1% failed, 0 underruns, probes heard no gap)"
    )
    print(
        f"{'calls':>6} {'ok':>6} {'failed':>7} {'peak up':>8} {'underruns':>10} {'wire gaps':>10} "
        f"{'silent fr':>10} {'max gap ms':>11} {'dtmf p50':>9} {'dtmf p99':>9} {'edge CPU':>9} {'pass':>5}"
    )
    best = 0
    dtmf_at: dict[int, list[float]] = {}
    acted_at: dict[int, list[float]] = {}
    switch_at: dict[int, list[float]] = {}
    for i, n in enumerate(levels):
        ph = [cr[i] for cr in conc_runs]
        lat = [x for p in ph for x in p.dtmf_ms]
        dtmf_at[n] = lat
        acted_at[n] = [x for p in ph for x in p.dtmf_acted_ms]
        switch_at[n] = [x for p in ph for x in p.dtmf_switch_ms]
        passed = sum(p.passed for p in ph) * 2 > len(ph)
        if passed:
            best = max(best, n)
        print(
            f"{n:>6} {med([p.ok for p in ph]):>6.0f} {med([p.failed for p in ph]):>7.0f} "
            f"{med([p.peak_active for p in ph]):>8.0f} {med([p.underruns for p in ph]):>10.0f} "
            f"{med([p.probe_wire_gaps for p in ph]):>10.0f} "
            f"{med([p.probe_silent_frames for p in ph]):>10.0f} "
            f"{med([p.probe_max_gap_ms for p in ph]):>11.1f} {pct(lat, 50):>9.1f} {pct(lat, 99):>9.1f} "
            f"{med([p.cpu_pct for p in ph]):>8.0f}% {'yes' if passed else 'no':>5}"
        )
    print()
    first = dtmf_at.get(levels[0], [])
    acted, switch = acted_at.get(levels[0], []), switch_at.get(levels[0], [])
    r20 = [rr[0] for rr in rate_runs]
    print("summary                                        target      measured")
    print(f"  concurrent calls with media, one core        >= 100      {best}")
    print(f"  call setup rate (<=1% failed, kept up)       >= 20/s     {sustained:.1f}/s")
    print(
        f"  INVITE->200 p50/p99 at {rates[0]:g}/s                  p99 <= 200  "
        f"{med([p.rtt_p50 for p in r20]):.1f} / {med([p.rtt_p99 for p in r20]):.1f} ms"
    )
    print(
        f"  DTMF -> next prompt p50/p99 at {levels[0]} calls      p99 <= 60   "
        f"{pct(first, 50):.1f} / {pct(first, 99):.1f} ms  (n={len(first)}; from key-down, key held 100 ms)"
    )
    print(
        f"    key-down -> the edge acts (its dtmf log)               "
        f"{pct(acted, 50):.1f} / {pct(acted, 99):.1f} ms  (n={len(acted)})"
    )
    print(
        f"    the edge acts -> the prompt's first frame heard        "
        f"{pct(switch, 50):.1f} / {pct(switch, 99):.1f} ms"
    )


if __name__ == "__main__":
    main()
