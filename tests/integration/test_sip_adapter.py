"""The SIP port's baresip adapter against real peers over loopback.

An edge process built only on the adapter (tests/tools/sip_tone_edge.py) answers calls
with a 440 Hz tone and logs digits; SIPp (Debian package sip-tester) and a plain
baresip-python UA in another process call it.
"""

from __future__ import annotations

import array
import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.ports import free_port, rtp_port_range
from tests.tools.edge_sipp import sipp_ports
from tests.tools.rtp_pcap import build as build_pcap
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
SIPP_DIR = ROOT / "tests" / "sipp"
SIPP = shutil.which("sipp")

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")


class Edge:
    """The adapter test edge as a child process; its JSON lines collected in ``events``."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.events: list[dict] = []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.tools.sip_tone_edge",
                "--port",
                str(self.port),
                "--rtp-ports",
                rtp_port_range(),
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_for(lambda e: e["event"] == "ready", 10)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))

    def wait_for(self, pred, timeout: float) -> dict:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in list(self.events):
                if pred(e):
                    return e
            if self.proc.poll() is not None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"edge exited {self.proc.returncode}: {err[-2000:]}")
            time.sleep(0.05)
        raise AssertionError(f"timed out; events: {self.events}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    e = Edge()
    yield e
    e.stop()


def sipp(
    edge: Edge, scenario: str, service: str, workdir: Path, *extra: str, transport: str = "u1"
) -> tuple[int, str]:
    """Run one SIPp call; returns (exit code, the message trace)."""
    msgs = workdir / f"msgs-{service}-{time.monotonic_ns()}.log"
    proc = subprocess.run(
        [
            SIPP or "sipp",
            "-sf",
            str(SIPP_DIR / scenario),
            f"127.0.0.1:{edge.port}",
            "-s",
            service,
            "-m",
            "1",
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            *sipp_ports(),
            "-t",
            transport,
            "-timeout",
            "15",
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(msgs),
            *extra,
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=30,
    )
    return proc.returncode, msgs.read_text(errors="replace") if msgs.exists() else ""


def goertzel_ratio(pcm: bytes, rate: int, freq: float, block_ms: int = 100) -> float:
    """Share of the signal's energy at ``freq`` (0..1), by the Goertzel algorithm on each
    `block_ms` block, summed: a tone received live slips in phase now and then (a late packet),
    and one Goertzel over the whole recording would let the parts before and after cancel."""
    size = rate * block_ms // 1000
    pcm = pcm[: len(pcm) & ~1]
    everything = array.array("h", pcm)
    if sys.byteorder == "big":
        everything.byteswap()
    k = 2 * math.cos(2 * math.pi * freq / rate)
    power = energy = 0.0
    for start in range(0, len(everything) - size + 1, size):
        samples = everything[start : start + size]
        s1 = s2 = 0.0
        for x in samples:
            s1, s2 = x + k * s1 - s2, s1
        power += s1 * s1 + s2 * s2 - k * s1 * s2
        energy += sum(x * x for x in samples) * len(samples) / 2
    return power / energy if energy else 0.0


def test_sipp_plain_uac_completes_call_with_audio_and_dtmf(edge: Edge, tmp_path: Path) -> None:
    (tmp_path / "uac_audio_dtmf.pcap").write_bytes(build_pcap(1000.0, "12#"))
    rc, trace = sipp(edge, "uac_basic.xml", "15551230000", tmp_path)
    assert rc == 0, trace[-3000:]
    # No request from the edge but the 200s: no re-INVITE, no UPDATE.
    assert "INVITE sip:15550009999" not in trace
    answered = edge.wait_for(lambda e: e["event"] == "answered", 5)
    ended = edge.wait_for(lambda e: e["event"] == "ended" and e["leg_id"] == answered["leg_id"], 5)
    digits = [e["digit"] for e in edge.events if e["event"] == "dtmf" and e["leg_id"] == answered["leg_id"]]
    assert digits == ["1", "2", "#"]
    assert ended["rx_packets"] > 50 and ended["tx_packets"] > 50
    invite = next(e for e in edge.events if e["event"] == "invite" and e["call_id"] == answered["call_id"])
    assert invite["ruri_user"] == "15551230000"
    assert invite["caller"] == "15550009999" and invite["caller_name"] == "SIPp caller"
    assert invite["source"].startswith("127.0.0.1:") and invite["transport"] == "udp"


def test_a_held_key_and_a_reordered_packet_are_one_digit_each(edge: Edge, tmp_path: Path) -> None:
    # Digits go out at key-down: a key held 700 ms, and an update packet arriving after the
    # event's end packets (reordered), must each still be one digit; the same key twice is two.
    pcap = build_pcap(1000.0, "55", lead_ms=1000, gap_ms=300, hold_ms=700, straggler=True)
    (tmp_path / "uac_audio_dtmf.pcap").write_bytes(pcap)
    rc, trace = sipp(edge, "uac_basic.xml", "15551230001", tmp_path)
    assert rc == 0, trace[-3000:]
    invite = edge.wait_for(lambda e: e["event"] == "invite" and e["ruri_user"] == "15551230001", 5)
    answered = edge.wait_for(lambda e: e["event"] == "answered" and e["call_id"] == invite["call_id"], 5)
    edge.wait_for(lambda e: e["event"] == "ended" and e["leg_id"] == answered["leg_id"], 5)
    digits = [e["digit"] for e in edge.events if e["event"] == "dtmf" and e["leg_id"] == answered["leg_id"]]
    assert digits == ["5", "5"]


@pytest.mark.parametrize(("service", "code"), [("4040001", 404), ("4030001", 403)])
def test_reject_codes_reach_sipp(edge: Edge, tmp_path: Path, service: str, code: int) -> None:
    rc, trace = sipp(
        edge, "uac_reject.xml", service, tmp_path, "-key", "pt", "0", "-key", "codec", "PCMU/8000"
    )
    assert rc == 0, trace[-3000:]
    assert f"SIP/2.0 {code} " in trace


def test_reject_over_tcp(edge: Edge, tmp_path: Path) -> None:
    rc, trace = sipp(
        edge,
        "uac_reject.xml",
        "4040002",
        tmp_path,
        "-key",
        "pt",
        "0",
        "-key",
        "codec",
        "PCMU/8000",
        transport="t1",
    )
    assert rc == 0, trace[-3000:]
    assert "SIP/2.0 404 " in trace
    inv = edge.wait_for(lambda e: e["event"] == "invite" and e["called"] == "4040002", 5)
    assert inv["transport"] == "tcp"


def test_sdp_without_usable_codec_gets_488(edge: Edge, tmp_path: Path) -> None:
    rc, trace = sipp(
        edge, "uac_reject.xml", "15551230001", tmp_path, "-key", "pt", "18", "-key", "codec", "G729/8000"
    )
    assert rc == 0, trace[-3000:]
    assert "SIP/2.0 488 " in trace


def test_garbage_on_the_sip_port_does_not_kill_the_edge(edge: Edge, tmp_path: Path) -> None:
    junk = [
        b"\x00\xff" * 700,
        b"garbage\r\n\r\n",
        b"INVITE sip:x SIP/2.0\r\nVia: broken\r\nContent-Length: 99999\r\n\r\nv=0",
        b"SIP/2.0 200 OK\r\n\r\n",
        b"INVITE sip:1@127.0.0.1 SIP/2.0\r\nCall-ID: x\r\nCSeq: banana\r\n"
        b"Content-Type: application/sdp\r\n\r\n",
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        for j in junk:
            u.sendto(j, ("127.0.0.1", edge.port))
    for j in junk:
        with socket.create_connection(("127.0.0.1", edge.port), timeout=2) as t:
            t.sendall(j)
    # A call placed after the junk still gets its answer, and the process is still there.
    rc, trace = sipp(
        edge, "uac_reject.xml", "4040003", tmp_path, "-key", "pt", "0", "-key", "codec", "PCMU/8000"
    )
    assert rc == 0 and "SIP/2.0 404 " in trace
    assert edge.proc.poll() is None


def test_foreign_source_gets_403(tmp_path: Path) -> None:
    other = Edge("--allow-source", "192.0.2.10")
    try:
        rc, trace = sipp(
            other, "uac_reject.xml", "15551230000", tmp_path, "-key", "pt", "0", "-key", "codec", "PCMU/8000"
        )
        assert rc == 0, trace[-3000:]
        assert "SIP/2.0 403 " in trace
    finally:
        other.stop()


def test_baresip_ua_exchanges_tones_both_ways(tmp_path: Path) -> None:
    rec_dir = tmp_path / "edge"
    rec_dir.mkdir()
    e = Edge("--record-dir", str(rec_dir), "--tone", "440")
    try:
        heard = tmp_path / "caller.pcm"
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.tools.sip_tone_caller",
                f"sip:15551239999@127.0.0.1:{e.port}",
                "--tone",
                "1000",
                "--seconds",
                "3",
                "--digits",
                "5",
                "--record",
                str(heard),
                "--port",
                str(free_port()),
                "--rtp-ports",
                rtp_port_range(4),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=40,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        done = json.loads(proc.stdout.strip().splitlines()[-1])
        assert done["event"] == "done", proc.stdout
        rate = done["rate"]
        answered = e.wait_for(lambda ev: ev["event"] == "answered", 5)
        e.wait_for(lambda ev: ev["event"] == "ended", 5)
        assert e.wait_for(lambda ev: ev["event"] == "dtmf", 5)["digit"] == "5"
        # The caller heard the edge's 440 Hz, not its own 1000 Hz.
        pcm = heard.read_bytes()[rate * 2 // 2 :]  # skip the first half second
        assert goertzel_ratio(pcm, rate, 440) > 0.5
        assert goertzel_ratio(pcm, rate, 1000) < 0.05
        # The edge heard the caller's 1000 Hz.
        recorded = rec_dir / f"{answered['leg_id']}.pcm"
        eventually(recorded.exists, timeout=5, message=f"the edge's recording {recorded.name}")
        pcm = recorded.read_bytes()[8000:]
        assert goertzel_ratio(pcm, 8000, 1000) > 0.5
        assert goertzel_ratio(pcm, 8000, 440) < 0.05
    finally:
        e.stop()
