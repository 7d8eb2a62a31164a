"""Trunk trust belongs to the INVITE transaction and its source, not to the Call-ID: an INVITE
from an address off the trunk that reuses the Call-ID of a trusted INVITE is refused with 403.

The edge is the adapter test edge (tests/tools/sip_tone_edge.py, the baresip stack with a trunk
allowlist of 127.0.0.1); the INVITEs are raw UDP datagrams, the spoofed one sent from 127.0.0.2.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.local.ports import free_port
from tests.waiting import eventually

from .test_sip_adapter import SIPP, Edge

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp (Debian package sip-tester) is not installed")


class Phone:
    """A UDP socket that sends hand-built INVITEs and reads the final responses."""

    def __init__(self, host: str, edge_port: int) -> None:
        self.host, self.edge = host, ("127.0.0.1", edge_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, free_port()))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(10)

    def invite(self, call_id: str, called: str, branch: str, tag: str) -> str:
        sdp = (
            f"v=0\r\no=phone 1 1 IN IP4 {self.host}\r\ns=-\r\nc=IN IP4 {self.host}\r\nt=0 0\r\n"
            f"m=audio {free_port()} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
        )
        head = (
            f"INVITE sip:{called}@127.0.0.1:{self.edge[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={branch}\r\n"
            f'From: "Caller" <sip:15550009999@{self.host}:{self.port}>;tag={tag}\r\n'
            f"To: <sip:{called}@127.0.0.1:{self.edge[1]}>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:15550009999@{self.host}:{self.port}>\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n"
        )
        self.sock.sendto((head + sdp).encode(), self.edge)
        while True:
            msg = self.sock.recv(65535).decode(errors="replace")
            status = re.match(r"SIP/2\.0 (\d{3}) ", msg)
            if status and int(status.group(1)) >= 200:
                self.ack(call_id, called, branch, tag, msg)
                return msg

    def ack(self, call_id: str, called: str, branch: str, tag: str, response: str) -> None:
        to = re.search(r"^To: (.*)$", response, re.MULTILINE | re.IGNORECASE)
        status = int(response[8:11])
        ack_branch = branch if status >= 300 else f"z9hG4bK{uuid.uuid4().hex}"
        msg = (
            f"ACK sip:{called}@127.0.0.1:{self.edge[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={ack_branch}\r\n"
            f"From: <sip:15550009999@{self.host}:{self.port}>;tag={tag}\r\n"
            f"To: {to.group(1).strip() if to else ''}\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        self.sock.sendto(msg.encode(), self.edge)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    e = Edge("--allow-source", "127.0.0.1")
    yield e
    e.stop()


def spoofed_reuse(edge: Edge, first_called: str) -> tuple[str, str]:
    call_id = f"{uuid.uuid4().hex}@trunk"
    trunk, intruder = Phone("127.0.0.1", edge.port), Phone("127.0.0.2", edge.port)
    try:
        first = trunk.invite(call_id, first_called, f"z9hG4bK{uuid.uuid4().hex}", "trunk1")
        second = intruder.invite(call_id, "15551230000", f"z9hG4bK{uuid.uuid4().hex}", "spoof1")
    finally:
        trunk.close()
        intruder.close()
    return first, second


def test_a_spoofed_invite_reusing_a_finished_trusted_call_id_gets_403(edge: Edge, tmp_path: Path) -> None:
    first, second = spoofed_reuse(edge, "4040001")
    assert first.startswith("SIP/2.0 404 "), first  # trusted, then refused by number
    assert second.startswith("SIP/2.0 403 "), second
    call_id = re.search(r"^Call-ID: (.*)$", second, re.MULTILINE | re.IGNORECASE)
    assert call_id
    cid = call_id.group(1).strip()

    def of_call(event: str) -> list[dict]:
        return [e for e in list(edge.events) if e.get("call_id") == cid and e["event"] == event]

    logged = eventually(lambda: of_call("invite")[1:] and of_call("invite"), message="both INVITEs logged")
    assert [e["source"].split(":")[0] for e in logged] == ["127.0.0.1", "127.0.0.2"]
    rejected = eventually(lambda: of_call("rejected")[1:] and of_call("rejected"), message="both refusals")
    assert [e["status"] for e in rejected] == [404, 403]


def test_a_spoofed_invite_reusing_a_live_trusted_call_id_gets_403(edge: Edge, tmp_path: Path) -> None:
    first, second = spoofed_reuse(edge, "15551230000")
    assert first.startswith("SIP/2.0 200 "), first  # the trusted call is answered and stays up
    assert second.startswith("SIP/2.0 403 "), second
