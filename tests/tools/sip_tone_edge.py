"""A tiny edge built only on the SIP port's baresip adapter, for adapter tests.

Answers every INVITE and plays a tone back; logs one JSON object per line to stdout:
``ready``, ``invite``, ``answered``, ``dtmf`` (digit), ``ended`` (reason, stats), ``rejected``.

Rules, by the called number (Request-URI user, else To user):
  ``404...`` -> 404 Not Found, ``403...`` -> 403 Forbidden, ``503...`` -> 503.
``--allow-source IP`` (repeatable): INVITEs from any other source address get 403.
``--record-dir D``: received audio of each call is saved as raw PCM16 to D/<leg_id>.pcm.

    python -m tests.tools.sip_tone_edge --host 127.0.0.1 --port 5070
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import signal
import sys
import time
from pathlib import Path

from sip_edge.sip.baresip_stack import BaresipStack
from sip_edge.sip.port import InboundInvite, Leg, ListenAddress, StackSettings


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, "ts": time.time(), **fields}), flush=True)


def tone(freq: float, rate: int, ms: int, phase: int) -> bytes:
    n = rate * ms // 1000
    amp = 8000
    return b"".join(
        int(amp * math.sin(2 * math.pi * freq * (phase + i) / rate)).to_bytes(2, "little", signed=True)
        for i in range(n)
    )


async def play_and_record(leg: Leg, freq: float, record: Path | None) -> None:
    if not await leg.wait_media(3.0):
        emit("no_media", leg_id=leg.leg_id)
        return
    rate = leg.audio.sample_rate
    ptime = leg.audio.ptime_ms
    frame_bytes = rate * ptime // 1000 * 2
    received = bytearray()
    phase = 0
    loop = asyncio.get_running_loop()
    next_t = loop.time()
    # Keep ~3 frames queued ahead so scheduling jitter never starves the sender.
    for _ in range(3):
        leg.audio.write(tone(freq, rate, ptime, phase))
        phase += frame_bytes // 2
    while leg.ended is None:
        leg.audio.write(tone(freq, rate, ptime, phase))
        phase += frame_bytes // 2
        received += leg.audio.read(frame_bytes * 4)
        next_t += ptime / 1000
        await asyncio.sleep(max(0.0, next_t - loop.time()))
    if record is not None:  # whole or not at all: the test reads it as soon as it exists
        partial = record.with_suffix(".part")
        partial.write_bytes(bytes(received))
        partial.rename(record)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tone", type=float, default=440.0)
    ap.add_argument("--allow-source", action="append", default=[])
    ap.add_argument("--record-dir", type=Path)
    ap.add_argument("--rtp-ports", help="LOW-HIGH: UDP ports for RTP and RTCP")
    args = ap.parse_args()

    rtp_ports = None
    if args.rtp_ports:
        low, high = args.rtp_ports.split("-")
        rtp_ports = (int(low), int(high))
    stack = BaresipStack(StackSettings(max_legs=256, rtp_ports=rtp_ports))
    tasks: set[asyncio.Task[None]] = set()

    async def on_invite(invite: InboundInvite) -> None:
        src = invite.source
        emit(
            "invite",
            call_id=invite.call_id,
            called=invite.called_number,
            ruri_user=invite.request_uri_user,
            to_user=invite.to_user,
            caller=invite.from_user,
            caller_name=invite.from_display,
            source=str(src) if src else None,
            transport=src.transport if src else None,
            headers=dict(invite.headers),
        )
        called = invite.called_number or ""
        if args.allow_source and (src is None or src.host not in args.allow_source):
            await invite.reject(403, "Forbidden")
            emit("rejected", call_id=invite.call_id, status=403)
            return
        for prefix, status, reason in (
            ("404", 404, "Not Found"),
            ("403", 403, "Forbidden"),
            ("503", 503, "Service Unavailable"),
        ):
            if called.startswith(prefix):
                await invite.reject(status, reason)
                emit("rejected", call_id=invite.call_id, status=status)
                return
        leg = await invite.answer()
        emit("answered", call_id=invite.call_id, leg_id=leg.leg_id)
        leg.on_dtmf(lambda d: emit("dtmf", leg_id=leg.leg_id, digit=d.digit))

        def ended(e: object) -> None:
            s = leg.rtp_stats()
            emit(
                "ended",
                leg_id=leg.leg_id,
                reason=e.reason,  # type: ignore[attr-defined]
                rx_packets=s.rx_packets,
                tx_packets=s.tx_packets,
            )

        leg.on_ended(ended)
        record = args.record_dir / f"{leg.leg_id}.pcm" if args.record_dir else None
        task = asyncio.get_running_loop().create_task(play_and_record(leg, args.tone, record))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    stack.on_invite(on_invite)
    await stack.start(ListenAddress(args.host, args.port))
    emit("ready", host=args.host, port=args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await stack.drain(2.0)
    await stack.stop()
    emit("stopped")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
