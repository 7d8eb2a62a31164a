"""SIPp against the SIP edge: pcaps of RTP audio and RFC 2833 DTMF, and SIPp runs.

Shared by `tests/integration/test_edge_sipp.py` and `bench/sip_edge.py`.

- ``flood_pcap(events, digit, spacing_ms)``: a short tone, then `events` telephone-events
  back to back (a DTMF flood), then more tone.
- ``Sipp``: one SIPp process (a scenario from ``tests/sipp``, run in its own working
  directory holding ``audio.pcap``); ``wait()`` gives the exit code and the message trace.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from infra.local.ports import free_port, free_ports
from tests.tools.rtp_pcap import _EVENT_CODES, PT_EVENT, PT_PCMU, _udp_frame, build

ROOT = Path(__file__).resolve().parents[2]
SIPP_DIR = ROOT / "tests" / "sipp"
SIPP = shutil.which("sipp") or "sipp"

__all__ = ["SIPP", "SIPP_DIR", "Sipp", "build", "flood_pcap", "pcap_bytes", "sipp_ports"]


def sipp_ports() -> list[str]:
    """SIPp's port options, every socket it binds taken from the port allocator: SIP (-p), the
    media ports (-mp: audio there, video at +2; four reserved) and the control port (-cp;
    by default 8888, or the next free one, shared by every SIPp on the machine)."""
    return ["-p", str(free_port()), "-mp", str(free_ports(4, align=2)), "-cp", str(free_port())]


def pcap_bytes(packets: Sequence[tuple[float, bytes]]) -> bytes:
    """A pcap of RTP payloads sent at the given offsets (seconds)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for when, payload in packets:
        frame = _udp_frame(payload)
        sec = int(when)
        usec = round((when - sec) * 1e6)
        out.append(struct.pack("<IIII", 1_000_000 + sec, usec, len(frame), len(frame)) + frame)
    return b"".join(out)


def flood_pcap(events: int = 300, digit: str = "5", spacing_ms: float = 4.0, lead_ms: int = 600) -> bytes:
    """Silence-free PCMU for `lead_ms`, then `events` distinct telephone-events of `digit`, one
    start and three end packets each, `spacing_ms` apart, then 1 s more audio."""
    ssrc, seq, ts, t = 0x0F100D00, 1, 160, 0.0
    packets: list[tuple[float, bytes]] = []
    frame = bytes([0x7F, 0xFF] * 80)  # PCMU near-silence that is not digital zero

    def rtp(pt: int, marker: bool, stamp: int, payload: bytes) -> bytes:
        hdr = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, stamp, ssrc)
        return hdr + payload

    def audio(ms: int) -> None:
        nonlocal seq, ts, t
        for _ in range(ms // 20):
            packets.append((t, rtp(PT_PCMU, False, ts, frame)))
            seq, ts, t = seq + 1, ts + 160, t + 0.02

    audio(lead_ms)
    code = _EVENT_CODES[digit]
    for _ in range(events):
        packets.append((t, rtp(PT_EVENT, True, ts, struct.pack("!BBH", code, 10, 80))))
        seq += 1
        for _ in range(3):
            packets.append((t, rtp(PT_EVENT, False, ts, struct.pack("!BBH", code, 0x80 | 10, 160))))
            seq += 1
        ts += 160
        t += spacing_ms / 1000
    audio(1000)
    return pcap_bytes(packets)


class Sipp:
    """One SIPp process calling `target` (HOST:PORT) for `service` with `scenario`."""

    def __init__(
        self,
        scenario: str | Path,
        target: str,
        service: str,
        workdir: Path,
        *extra: str,
        pcap: bytes | None = None,
        calls: int = 1,
        timeout_s: float = 20.0,
        cpu: int | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        if pcap is not None:
            (workdir / "audio.pcap").write_bytes(pcap)
        self.messages = workdir / "messages.log"
        path = Path(scenario) if Path(scenario).is_absolute() else SIPP_DIR / scenario
        cmd = [
            SIPP,
            "-sf",
            str(path),
            target,
            "-s",
            service,
            "-m",
            str(calls),
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            *sipp_ports(),
            "-t",
            "u1",
            "-timeout",
            f"{timeout_s:.0f}",
            "-nostdin",
            "-trace_msg",
            "-message_file",
            str(self.messages),
            *extra,
        ]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu), *cmd]
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=os.environ.copy()
        )
        self.timeout_s = timeout_s

    def rtp_port(self, timeout: float = 5.0) -> int:
        """The far end's RTP port, as the scenario wrote it to rtpport.txt."""
        path = self.workdir / "rtpport.txt"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if path.exists() and path.read_text().strip():
                return int(path.read_text().split()[0])
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError(f"no rtpport.txt from SIPp; trace:\n{self.trace()[-3000:]}")

    def trace(self) -> str:
        return self.messages.read_text(errors="replace") if self.messages.exists() else ""

    def wait(self, timeout: float | None = None) -> tuple[int, str]:
        """(exit code, message trace); SIPp is killed if it outlives `timeout`."""
        try:
            _, err = self.proc.communicate(timeout=timeout or self.timeout_s + 10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        code = self.proc.returncode
        return code, self.trace() + ("\n[stderr]\n" + err.decode(errors="replace") if code else "")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
