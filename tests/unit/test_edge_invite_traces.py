"""The edge's INVITE traces (sip_edge/sip/_native.py): one per transaction and source, so a
Call-ID reused from another address never inherits a trusted source."""

from __future__ import annotations

import logging
import time

import pytest

from sip_edge.sip._native import InviteTrace, NativeBridge, _parse_invite


def trace(host: str, branch: str, call_id: str = "c1@trunk", port: int = 5060) -> InviteTrace:
    return InviteTrace(
        call_id=call_id,
        branch=branch,
        cseq="1 INVITE",
        src_host=host,
        src_port=port,
        transport="udp",
        request_uri="sip:15551230000@edge",
        from_value="<sip:caller@x>;tag=a",
        seen_at=time.monotonic(),
    )


def test_the_parser_reads_the_top_via_branch_and_cseq() -> None:
    pkt = (
        b"INVITE sip:15551230000@10.0.0.1 SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 192.0.2.1:5060;rport;branch=z9hG4bKabc\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.9:5060;branch=z9hG4bKlower\r\n"
        b"i: c1@trunk\r\nf: <sip:caller@x>;tag=a\r\nCSeq:  7   INVITE\r\n\r\n"
    )
    parsed = _parse_invite(pkt)
    assert parsed is not None
    assert (parsed.call_id, parsed.branch, parsed.cseq) == ("c1@trunk", "z9hG4bKabc", "7 INVITE")


def test_a_retransmission_is_kept_once_and_claimed_once() -> None:
    bridge = NativeBridge(runtime=None)
    assert bridge.record(trace("192.0.2.1", "b1"))
    assert not bridge.record(trace("192.0.2.1", "b1"))  # the same transaction again
    assert bridge.take_trace("c1@trunk") is not None
    assert not bridge.record(trace("192.0.2.1", "b1"))  # still recognised once claimed
    assert bridge.take_trace("c1@trunk") is None  # nothing left to claim


def test_a_reused_call_id_from_another_address_gets_its_own_source() -> None:
    bridge = NativeBridge(runtime=None)
    bridge.record(trace("192.0.2.1", "b1"))
    first = bridge.take_trace("c1@trunk")
    assert first is not None and first.src_host == "192.0.2.1"
    bridge.record(trace("203.0.113.66", "b2"))  # the spoof, after the trusted call was claimed
    second = bridge.take_trace("c1@trunk")
    assert second is not None and second.src_host == "203.0.113.66"


def test_unclaimed_invites_of_one_call_id_from_two_hosts_are_all_untrusted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bridge = NativeBridge(runtime=None)
    bridge.record(trace("192.0.2.1", "b1"))
    bridge.record(trace("203.0.113.66", "b2"))
    with caplog.at_level(logging.WARNING, logger="sip_edge.sip"):
        assert bridge.take_trace("c1@trunk") is None
    assert bridge.take_trace("c1@trunk") is None  # the second call of the pair too
    (rec,) = [r for r in caplog.records if getattr(r, "event", "") == "sip_invite_source_ambiguous"]
    assert rec.sources == ["192.0.2.1", "203.0.113.66"]  # type: ignore[attr-defined]


def test_two_transactions_from_one_host_are_taken_oldest_first() -> None:
    bridge = NativeBridge(runtime=None)
    bridge.record(trace("192.0.2.1", "b1", port=5060))
    bridge.record(trace("192.0.2.1", "b2", port=5062))
    a, b = bridge.take_trace("c1@trunk"), bridge.take_trace("c1@trunk")
    assert a is not None and b is not None and (a.branch, b.branch) == ("b1", "b2")
