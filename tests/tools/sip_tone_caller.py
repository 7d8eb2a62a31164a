"""A caller on plain baresip-python (not the edge's adapter): dials, sends a tone and DTMF,
records what it hears, hangs up. Prints JSON lines: ``answered``, ``done`` (or ``failed``).

    python -m tests.tools.sip_tone_caller sip:4471@127.0.0.1:5070 --tone 1000 --record out.pcm
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from pathlib import Path

from baresip import Account, CallFailed, Config, Runtime, UserAgent

from infra.local.ports import free_port, rtp_port_range


def emit(event: str, **fields: object) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("uri")
    ap.add_argument("--tone", type=float, default=1000.0)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--digits", default="")
    ap.add_argument("--record", type=Path, required=True)
    ap.add_argument("--port", type=int, help="SIP port (UDP and TCP; default: a free one)")
    ap.add_argument("--rtp-ports", help="LOW-HIGH: UDP ports for RTP and RTCP (default: free ones)")
    args = ap.parse_args()

    port = args.port or free_port()
    rtp_ports = args.rtp_ports or rtp_port_range(4)
    runtime = Runtime()
    await runtime.start(
        Config(
            net_interface="127.0.0.1",
            max_concurrent_calls=4,
            extra_config_text=f"sip_listen 127.0.0.1:{port}\nsip_transports udp,tcp\nrtp_ports {rtp_ports}\n",
        )
    )
    try:
        ua = await UserAgent.create(
            runtime,
            Account(
                user="15557770000",
                domain=f"127.0.0.1:{port}",
                password="",
                reg_interval=0,
                extra_params=("video_codecs=none",),
            ),
        )
        call = await ua.dial(args.uri)
        try:
            await call.wait_established(10)
        except CallFailed as e:
            emit("failed", status=e.status, reason=e.reason)
            return
        emit("answered", call_id=call.call_id)
        loop = asyncio.get_running_loop()
        received = bytearray()
        phase, rate = 0, 0
        t0 = loop.time()
        next_t = t0
        sent_digits = False
        dtmf_task: asyncio.Task[None] | None = None
        while loop.time() - t0 < args.seconds:
            try:
                info = call.audio.info()
            except Exception:
                await asyncio.sleep(0.02)
                next_t = loop.time()
                continue
            rate = info.tx_sample_rate or 8000
            n = rate // 50
            frame = b"".join(
                int(8000 * math.sin(2 * math.pi * args.tone * (phase + i) / rate)).to_bytes(
                    2, "little", signed=True
                )
                for i in range(n)
            )
            phase += n
            if info.tx_buffered < 3 * 2 * n:
                call.audio.write(frame)
            received += call.audio.read(8 * n)
            if args.digits and not sent_digits and loop.time() - t0 > args.seconds / 2:
                sent_digits = True
                dtmf_task = loop.create_task(call.send_dtmf(args.digits))
            next_t += 0.02
            await asyncio.sleep(max(0.0, next_t - loop.time()))
        if dtmf_task is not None:
            await dtmf_task
        await call.hangup()
        args.record.write_bytes(bytes(received))
        emit("done", rate=rate, received_bytes=len(received))
    finally:
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(main())
