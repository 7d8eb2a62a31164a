"""The SIP edge against SIPp, a client nobody here wrote: IVR navigation with RTP audio and
RFC 2833 DTMF, bad input (RTP garbage mid-call, a DTMF flood, malformed SIP), and the SIGTERM
drain. The whole platform runs (LocalStack); the tenant is configured through the public API;
assertions are on SIPp's exit code and trace, the edge's log and the History DB.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.commands import edge_command
from infra.local.managed import ManagedProcess, http_ok
from infra.local.ports import free_port, rtp_port_range
from infra.local.stack import LocalStack, signup_verified
from shared.history.models.call import CallRecord
from tests.sip_fixtures import edge_events, wait_call_record
from tests.tools.edge_sipp import SIPP, Sipp, build, flood_pcap

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(SIPP == "sipp", reason="sipp (Debian package sip-tester) is not installed"),
]

NUMBER = "15557770200"  # main menu: 3 -> submenu (1 -> hang up), 9 -> hang up
FLOOD_NUMBER = "15557770201"  # its own menu, 10 invalid inputs allowed


@dataclass
class Edge:
    stack: LocalStack
    proc: ManagedProcess
    sip_port: int
    control_port: int
    tenant_id: str
    menus: dict[str, str]

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def events(self, name: str) -> list[dict[str, Any]]:
        return edge_events(self.proc.log_path, name)

    def call_id_of(self, trace: str, timeout: float = 10.0) -> str:
        """The edge's call id for the SIPp call in `trace` (matched on the SIP Call-ID)."""
        lines = trace.splitlines()
        sip_ids = {line.split(":", 1)[1].strip() for line in lines if line.startswith("Call-ID:")}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events("invite_answered"):
                if e.get("sip_call_id") in sip_ids:
                    return str(e["call_id"])
            time.sleep(0.1)
        raise AssertionError(f"the edge answered none of {sip_ids}; log tail:\n{self.proc.log_tail()}")

    def record(self, call_id: str, timeout: float = 15.0) -> CallRecord:
        return wait_call_record(self.stack.settings, self.tenant_id, call_id, self.proc, timeout)

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.control_port}/health", timeout=3).status_code == 200
        except httpx.HTTPError:
            return False


def configure(stack: LocalStack) -> tuple[str, dict[str, str]]:
    tenant_id, access = signup_verified(stack, "owner@edge-sipp.example", company="SIPp Tests")
    headers = {"Authorization": f"Bearer {access}"}
    with httpx.Client(base_url=stack.api, headers=headers, timeout=10) as api:

        def menu(body: dict[str, Any]) -> str:
            r = api.post("/ivr-menus", json=body)
            r.raise_for_status()
            return str(r.json()["id"])

        sub = menu(
            {
                "name": "Sub",
                "greeting": {"text": "Submenu. Press 1 to hang up."},
                "options": [{"digit": "1", "action": {"type": "hang_up"}}],
                "timeout_s": 5,
            }
        )
        main = menu(
            {
                "name": "Main",
                "greeting": {"text": "Welcome. Press 3 for more, 9 to hang up."},
                "options": [
                    {"digit": "3", "action": {"type": "go_menu", "menu_id": sub}},
                    {"digit": "9", "action": {"type": "hang_up"}},
                ],
                "timeout_s": 5,
            }
        )
        flood = menu(
            {
                "name": "Flood",
                "greeting": {"text": "Press 1 to hang up."},
                "options": [{"digit": "1", "action": {"type": "hang_up"}}],
                "max_invalid": 10,
                "timeout_s": 5,
            }
        )
        for number, menu_id in ((NUMBER, main), (FLOOD_NUMBER, flood)):
            api.post(
                "/numbers", json={"number": f"+{number}", "entry": {"type": "menu", "id": menu_id}}
            ).raise_for_status()
    return tenant_id, {"main": main, "sub": sub, "flood": flood}


def start_edge(stack: LocalStack, base: Path, **env: str) -> tuple[ManagedProcess, int, int]:
    sip_port, control_port = free_port(), free_port()
    data = base / f"edge-{sip_port}"
    proc = ManagedProcess(
        "sip_edge",
        edge_command(data),
        base / f"edge-{sip_port}.log",
        http_ok(f"http://127.0.0.1:{control_port}/health"),
        env={
            **stack.settings.as_env(),
            "SIP_HOST": "127.0.0.1",
            "SIP_PORT": str(sip_port),
            "EDGE_CONTROL_PORT": str(control_port),
            "PROVIDER_ADDRESS": f"127.0.0.1:{free_port()}",  # nothing is forwarded here
            "SIP_RTP_PORTS": rtp_port_range(32),
            "EDGE_CONTROL_TOKEN": "test-edge-token",
            "EDGE_DRAIN_SECONDS": "5",
            **env,
        },
    )
    proc.start()
    try:
        proc.wait_ready(40)
    except BaseException:
        proc.stop()
        raise
    return proc, sip_port, control_port


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, str, dict[str, str], Path]]:
    base = tmp_path_factory.mktemp("edge-sipp")
    with LocalStack(base / "stack") as stack:
        tenant_id, menus = configure(stack)
        yield stack, tenant_id, menus, base


@pytest.fixture(scope="module")
def edge(stack: tuple[LocalStack, str, dict[str, str], Path]) -> Iterator[Edge]:
    local, tenant_id, menus, base = stack
    proc, sip_port, control_port = start_edge(local, base)
    try:
        yield Edge(local, proc, sip_port, control_port, tenant_id, menus)
    finally:
        proc.stop()


def sipp_call(edge: Edge, workdir: Path, pcap: bytes, number: str = NUMBER) -> Sipp:
    return Sipp("uac_ivr.xml", edge.target, number, workdir, pcap=pcap)


def test_sipp_navigates_the_menu_and_the_edge_hangs_up(edge: Edge, tmp_path: Path) -> None:
    # 3 -> the submenu, whose greeting 1 interrupts -> hang up: the edge sends the BYE
    sipp = sipp_call(edge, tmp_path, build(1000.0, "31", lead_ms=1500, gap_ms=1200))
    rc, trace = sipp.wait()
    assert rc == 0, trace[-4000:]
    assert "BYE sip:15550009999" in trace  # the edge hung up; SIPp answered 200
    assert "INVITE sip:15550009999" not in trace  # no re-INVITE towards the plain UAC
    rec = edge.record(edge.call_id_of(trace))
    steps = [(s.menu_id, s.input, s.action) for s in rec.path]
    assert steps[:2] == [(edge.menus["main"], "3", "go_menu"), (edge.menus["sub"], "1", "hang_up")]
    assert rec.number_called == f"+{NUMBER}" and rec.caller == "15550009999"
    caller = next(leg for leg in rec.legs if leg.kind == "caller")
    assert caller.quality is not None and caller.quality.packets_rx > 100  # SIPp's audio arrived


def test_sipp_hangs_up_itself(edge: Edge, tmp_path: Path) -> None:
    # no digit: the menu waits (5 s timeout), SIPp sends BYE after 6 s of no BYE from the edge
    sipp = sipp_call(edge, tmp_path, build(1000.0, "", lead_ms=3000))
    rc, trace = sipp.wait()
    assert rc == 0, trace[-4000:]
    assert "BYE sip:15557770200" in trace
    rec = edge.record(edge.call_id_of(trace))
    assert rec.hangup_reason == "caller_hangup", rec


def garbage() -> Iterator[bytes]:
    rng = random.Random(4)
    yield b""
    yield b"\x80"
    yield b"\x00" * 11  # shorter than an RTP header
    yield bytes([0x40, 0, 0, 1]) + bytes(200)  # RTP version 1
    yield bytes([0xBF, 0x00]) + bytes(10)  # CSRC count 15, no CSRCs
    yield bytes([0x90, 0x00, 0, 9, 0, 0, 0, 1, 0, 0, 0, 2, 0xBE, 0xDE, 0xFF, 0xFF])  # extension past end
    yield bytes([0xA0, 0x00, 0, 10, 0, 0, 0, 1, 0, 0, 0, 2]) + bytes([0xFF] * 4)  # padding > payload
    yield struct.pack("!BBHII", 0x80, 101, 20, 160, 0x5EED1234) + b"\x05"  # short telephone-event
    yield struct.pack("!BBHII", 0x80, 101, 21, 160, 0x5EED1234) + bytes([99, 0x8A, 0xFF, 0xFF])  # event 99
    yield struct.pack("!BBHII", 0x80, 96, 22, 160, 0x12345678) + bytes(160)  # unknown payload type
    yield struct.pack("!BBHII", 0x80, 0, 23, 160, 0xDEADBEEF) + bytes(1400)  # another SSRC, huge
    for _ in range(300):
        yield rng.randbytes(rng.randint(1, 1500))


def test_rtp_garbage_mid_call_leaves_the_call_working(edge: Edge, tmp_path: Path) -> None:
    # tone for 3 s, then 9 (hang up): the digit after the garbage must still be understood
    sipp = sipp_call(edge, tmp_path, build(1000.0, "9", lead_ms=3000, gap_ms=600))
    port = sipp.rtp_port()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i, packet in enumerate(garbage()):
            s.sendto(packet, ("127.0.0.1", port))
            s.sendto(packet, ("127.0.0.1", port + 1))  # RTCP too
            if i % 20 == 0:
                time.sleep(0.01)
    rc, trace = sipp.wait()
    assert rc == 0, trace[-4000:]
    assert "BYE sip:15550009999" in trace
    rec = edge.record(edge.call_id_of(trace))
    assert [(s.input, s.action) for s in rec.path][:1] == [("9", "hang_up")]
    assert edge.healthy()


def test_dtmf_flood_ends_the_call_cleanly_and_the_next_call_works(edge: Edge, tmp_path: Path) -> None:
    sipp = sipp_call(edge, tmp_path / "flood", flood_pcap(events=400, digit="5"), FLOOD_NUMBER)
    rc, trace = sipp.wait()
    assert rc == 0, trace[-4000:]
    rec = edge.record(edge.call_id_of(trace))
    # ten invalid digits, then the menu's on_invalid (hang up); the rest of the flood is ignored
    assert rec.hangup_reason is not None and rec.ended_at is not None
    assert sum(1 for s in rec.path if s.input == "5") >= 3, rec.path
    assert edge.healthy()
    again = sipp_call(edge, tmp_path / "again", build(1000.0, "9", lead_ms=1000))
    rc, trace = again.wait()
    assert rc == 0, trace[-4000:]
    assert [(s.input, s.action) for s in edge.record(edge.call_id_of(trace)).path][:1] == [("9", "hang_up")]


MALFORMED = [
    b"\x00\xff" * 300,
    b"INVITE\r\n\r\n",
    b"INVITE sip:15557770200@127.0.0.1 SIP/2.0\r\nVia: garbage\r\n\r\n",
    b"INVITE sip:15557770200@127.0.0.1 SIP/2.0\r\nContent-Length: 99999\r\n\r\nv=0",
    b"SIP/2.0 200 OK\r\nCall-ID: nobody\r\nCSeq: x INVITE\r\n\r\n",
    b"BYE sip:x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\nCall-ID: none\r\nCSeq: 1 BYE\r\n"
    b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nContent-Length: 0\r\n\r\n",
    b"OPTIONS sip:x SIP/2.0\r\n" + b"X-Long: " + b"a" * 60000 + b"\r\n\r\n",
]


def invite_without_codec(port: int) -> bytes:
    sdp = (
        "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        "m=audio 40000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
    )
    return (
        f"INVITE sip:{NUMBER}@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-nocodec-{port}\r\n"
        f"From: <sip:15550009999@127.0.0.1>;tag=nc{port}\r\nTo: <sip:{NUMBER}@127.0.0.1>\r\n"
        f"Call-ID: nocodec-{port}@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
        f"Contact: <sip:15550009999@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def test_malformed_sip_does_not_crash_the_edge(edge: Edge, tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind(("127.0.0.1", 0))
        u.settimeout(3)
        for message in MALFORMED:
            u.sendto(message[:65000], ("127.0.0.1", edge.sip_port))
        u.sendto(invite_without_codec(u.getsockname()[1]), ("127.0.0.1", edge.sip_port))
        statuses = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(s >= 400 for s in statuses):
            try:
                data = u.recv(65535)
            except TimeoutError:
                break
            if data.startswith(b"SIP/2.0 ") and b"nocodec" in data:
                statuses.append(int(data[8:11]))
    assert 488 in statuses, statuses
    with socket.create_connection(("127.0.0.1", edge.sip_port), timeout=3) as t:
        t.sendall(b"\x16\x03\x01\x02\x00" + bytes(400) + b"\r\n\r\n" + MALFORMED[3])
    time.sleep(0.3)
    assert edge.proc.alive() and edge.healthy()
    sipp = sipp_call(edge, tmp_path, build(1000.0, "9", lead_ms=1000))
    rc, trace = sipp.wait()
    assert rc == 0, trace[-4000:]


def test_sigterm_drains_live_calls_then_exits(
    stack: tuple[LocalStack, str, dict[str, str], Path], tmp_path: Path
) -> None:
    local, tenant_id, menus, base = stack
    proc, sip_port, control_port = start_edge(local, base, EDGE_DRAIN_SECONDS="20")
    edge = Edge(local, proc, sip_port, control_port, tenant_id, menus)
    try:
        live = sipp_call(edge, tmp_path / "live", build(1000.0, "", lead_ms=6000))
        live.rtp_port()
        answered_at = time.monotonic()
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while not edge.events("draining") and time.monotonic() < deadline:
            time.sleep(0.05)
        codec = ("-key", "pt", "0", "-key", "codec", "PCMU/8000")
        refused = Sipp("uac_reject.xml", edge.target, NUMBER, tmp_path / "new", *codec)
        rc, trace = refused.wait()
        assert rc == 0 and "SIP/2.0 503 " in trace, trace[-4000:]
        assert proc.alive()  # the live call holds the process up
        rc, trace = live.wait()
        assert rc == 0, trace[-4000:]
        assert "BYE sip:15557770200" in trace  # SIPp ended it after 6 s; the edge did not cut it
        assert time.monotonic() - answered_at > 5.5
        assert proc.proc is not None
        assert proc.proc.wait(15) == 0, proc.log_tail()
        rec = edge.record(edge.call_id_of(trace))
        assert rec.hangup_reason == "caller_hangup"
        assert edge.events("edge_stopped")
    finally:
        proc.stop()
