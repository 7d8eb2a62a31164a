"""Write a pcap of one RTP stream, for SIPp's ``play_pcap_audio``: a PCMU tone, then
RFC 4733 (RFC 2833) telephone-events for some digits, each followed by more tone.

SIPp replays the packets with their recorded spacing to the media address in the far
end's SDP, rewriting addresses and ports; payload types must match the SDP we offer
(0 = PCMU, 101 = telephone-event in ``tests/sipp/uac_basic.xml``).

    python -m tests.tools.rtp_pcap out.pcap --digits 12# --tone 1000
"""

from __future__ import annotations

import argparse
import math
import struct
from pathlib import Path

PT_PCMU = 0
PT_EVENT = 101
_EVENT_CODES = {**{str(d): d for d in range(10)}, "*": 10, "#": 11, "A": 12, "B": 13, "C": 14, "D": 15}


def _ulaw(sample: int) -> int:
    """G.711 mu-law encode of one signed 16-bit sample."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _udp_frame(payload: bytes) -> bytes:
    """Ethernet + IPv4 + UDP around an RTP packet (addresses are rewritten by SIPp)."""
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(payload), 0) + payload
    ip_hdr = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    )
    csum = sum(struct.unpack("!10H", ip_hdr))
    csum = (csum & 0xFFFF) + (csum >> 16)
    csum = ~((csum & 0xFFFF) + (csum >> 16)) & 0xFFFF
    ip_hdr = ip_hdr[:10] + struct.pack("!H", csum) + ip_hdr[12:]
    eth = b"\x00\x11\x22\x33\x44\x55" + b"\x66\x77\x88\x99\xaa\xbb" + b"\x08\x00"
    return eth + ip_hdr + udp


def build(
    tone_hz: float = 1000.0,
    digits: str = "12#",
    lead_ms: int = 1500,
    gap_ms: int = 400,
    *,
    hold_ms: int = 100,
    straggler: bool = False,
) -> bytes:
    """The pcap bytes: tone for ``lead_ms``, then per digit a ``hold_ms`` event and ``gap_ms``
    tone. ``straggler``: one update packet of each event comes again after its end packets,
    as a packet reordered on the way would."""
    packets: list[tuple[float, bytes]] = []
    seq, ts, t, phase = 1, 160, 0.0, 0
    ssrc = 0x5EED1234

    def rtp(pt: int, marker: bool, timestamp: int, payload: bytes) -> bytes:
        return (
            struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, timestamp, ssrc) + payload
        )

    def audio(ms: int) -> None:
        nonlocal seq, ts, t, phase
        for _ in range(ms // 20):
            pcm = bytes(
                _ulaw(int(8000 * math.sin(2 * math.pi * tone_hz * (phase + i) / 8000))) for i in range(160)
            )
            phase += 160
            packets.append((t, rtp(PT_PCMU, False, ts, pcm)))
            seq, ts, t = seq + 1, ts + 160, t + 0.02

    audio(lead_ms)
    for digit in digits.upper():
        code = _EVENT_CODES[digit]
        start = ts
        updates = hold_ms // 20
        for i in range(updates):  # the key press, 20 ms per update
            packets.append((t, rtp(PT_EVENT, i == 0, start, struct.pack("!BBH", code, 10, 160 * (i + 1)))))
            seq, t = seq + 1, t + 0.02
        duration = 160 * updates
        for _ in range(3):  # end of event, sent three times (RFC 4733 2.5.1.4)
            packets.append((t, rtp(PT_EVENT, False, start, struct.pack("!BBH", code, 0x80 | 10, duration))))
            seq = seq + 1
        if straggler:
            update = struct.pack("!BBH", code, 10, duration - 160)
            packets.append((t, rtp(PT_EVENT, False, start, update)))
            seq = seq + 1
        ts = start + duration
        audio(gap_ms)

    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for when, payload in packets:
        frame = _udp_frame(payload)
        sec = int(when)
        usec = round((when - sec) * 1e6)
        out.append(struct.pack("<IIII", 1_000_000 + sec, usec, len(frame), len(frame)) + frame)
    return b"".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--digits", default="12#")
    ap.add_argument("--tone", type=float, default=1000.0)
    args = ap.parse_args()
    args.out.write_bytes(build(args.tone, args.digits))


if __name__ == "__main__":
    main()
