"""The SIP edge under a flood: SIPp sends 500 INVITE/s from one source address (127.0.0.2, on
the trunk like a provider's second signalling address) while raw UDP sockets spray malformed SIP
at the SIP port and garbage at the edge's RTP ports, and a caller from another source
(127.0.0.1) makes a normal IVR call.

The edge must not crash, must answer the other source's call and carry its DTMF, must refuse the
flood past the source's rate with 503 Rate Limited (`sip_edge/source_limit.py`), and must log the
refusals with their reason and source without writing a line per refused INVITE.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.ports import rtp_port_range
from infra.local.stack import LocalStack
from tests.integration.test_edge_sipp import MALFORMED, NUMBER, Edge, configure, garbage, start_edge
from tests.tools.edge_sipp import SIPP, Sipp, build

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(SIPP == "sipp", reason="sipp (Debian package sip-tester) is not installed"),
]

FLOOD_SOURCE = "127.0.0.2"
UNKNOWN_NUMBER = "15550000000"  # every INVITE the limit lets through is a cheap 404
FLOOD_RATE = 500
FLOOD_CALLS = 1500  # 3 s at 500/s


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Edge, tuple[int, int]]]:
    base = tmp_path_factory.mktemp("edge-flood")
    with LocalStack(base / "stack") as stack:
        tenant_id, menus = configure(stack)
        rtp = rtp_port_range(32)
        proc, sip_port, control_port = start_edge(
            stack, base, TRUNK_ALLOWED_SOURCES=f"127.0.0.1,{FLOOD_SOURCE}", SIP_RTP_PORTS=rtp
        )
        low, high = (int(p) for p in rtp.split("-"))
        try:
            yield Edge(stack, proc, sip_port, control_port, tenant_id, menus), (low, high)
        finally:
            proc.stop()


def spray(edge: Edge, rtp: tuple[int, int], stop: threading.Event) -> int:
    """Malformed SIP at the SIP port and garbage at every RTP port until `stop`; packets sent."""
    rng = random.Random(7)
    junk = list(garbage())
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        u.bind((FLOOD_SOURCE, 0))
        while not stop.is_set():
            for message in MALFORMED:
                u.sendto(message[:65000], ("127.0.0.1", edge.sip_port))
            for port in range(rtp[0], rtp[1] + 1):
                u.sendto(rng.choice(junk), ("127.0.0.1", port))
            sent += len(MALFORMED) + rtp[1] - rtp[0] + 1
            stop.wait(0.05)
    return sent


def test_invite_flood_and_garbage_leave_other_sources_served(
    edge: tuple[Edge, tuple[int, int]], tmp_path: Path
) -> None:
    e, rtp = edge
    flood = Sipp(
        "uac_flood.xml",
        e.target,
        UNKNOWN_NUMBER,
        tmp_path / "flood",
        "-r",
        str(FLOOD_RATE),
        "-rp",
        "1000",
        "-i",
        FLOOD_SOURCE,
        "-mi",
        FLOOD_SOURCE,
        "-key",
        "pt",
        "0",
        "-key",
        "codec",
        "PCMU/8000",
        calls=FLOOD_CALLS,
        timeout_s=40,
    )
    stop = threading.Event()
    sent: list[int] = []
    sprayer = threading.Thread(target=lambda: sent.append(spray(e, rtp, stop)), daemon=True)
    sprayer.start()
    try:
        time.sleep(1.0)  # the scenario: the flood is on before the caller dials
        # The other source's call: tone, then 9 (hang up) -- answered, DTMF understood.
        rc, trace = Sipp(
            "uac_ivr.xml", e.target, NUMBER, tmp_path / "caller", pcap=build(1000.0, "9", lead_ms=1500)
        ).wait()
        assert rc == 0, trace[-4000:]
        rec = e.record(e.call_id_of(trace))
        assert [(s.input, s.action) for s in rec.path][:1] == [("9", "hang_up")]
        flood.wait()
    finally:
        stop.set()
        sprayer.join(10)
        flood.stop()

    assert e.proc.alive() and e.healthy(), e.proc.log_tail()
    limited = metric(e, 'edge_call_failures_total{reason="source_rate_limited"}')
    not_found = metric(e, 'edge_rejected_invites_total{status="404"}')
    assert limited > 500, (limited, not_found)
    assert limited > 3 * not_found, (limited, not_found)  # the limit, not the routing, took the flood

    rate_lines = [x for x in e.events("invite_rejected") if x.get("why") == "source_rate_limited"]
    assert rate_lines, "no refusal of the flood was logged"
    assert all(str(x.get("source", "")).startswith(FLOOD_SOURCE + ":") for x in rate_lines), rate_lines[:3]
    assert len(rate_lines) <= 10 * 8, len(rate_lines)  # 10 per 5 s at most, however fast the flood
    # every refusal is accounted for: the lines plus the counts they carry (the last window's
    # count waits for that pair's next line)
    accounted = len(rate_lines) + sum(int(x.get("suppressed", 0)) for x in rate_lines)
    assert accounted <= limited
    flood_lines = [line for line in e.proc.log_path.read_text().splitlines() if FLOOD_SOURCE in line]
    assert len(flood_lines) < 200, f"{len(flood_lines)} log lines about the flood source"
    assert sent and sent[0] > 0


def metric(e: Edge, name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{e.control_port}/metrics", timeout=5).text
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0
