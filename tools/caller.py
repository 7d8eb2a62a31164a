"""A caller for people (and tests): place one call to the edge as the provider would.

    python -m tools.caller NUMBER [--edge HOST:PORT] [--digits 1] [--digit-delay S]
        [--play FILE.wav | --tone HZ] [--record OUT.wav] [--hangup-after S]
        [--from +15550000000] [--listen HOST:PORT] [--rtp-ports LOW-HIGH] [--dtmf rtp|info] [--json]

It sends ``INVITE sip:NUMBER@EDGE`` from ``sip:FROM@LISTEN`` (the trunk address the
edge trusts), then prints what happens: trying, ringing, answered (with SIP status),
each stretch of audio heard ("prompt", with start/end times and its tones), digits
sent, and the hang-up and who hung up. ``--json`` prints one JSON event per line.

- ``--digits`` are pressed ``--digit-delay`` seconds after the answer (default 1 s);
  by default as RFC 4733 events, ``--dtmf info`` sends SIP INFO.
- ``--play`` sends a WAV (or MP3) once after the answer; ``--tone`` a continuous sine.
- ``--hangup-after S`` ends the call S seconds after dialling (a CANCEL if it is
  still ringing, else a BYE). Without it the caller waits for the far end to hang up
  (at most ``--timeout``, default 120 s).
- ``--record`` saves what was heard (16-bit mono WAV at the call's rate).

Exit code: 0 when the call was answered and ended cleanly (either side hung up);
otherwise the SIP status class: 4 (4xx, e.g. 486 or 404), 5 (5xx), 6 (6xx, e.g. 603),
3 when we gave up before an answer (--hangup-after / --timeout while ringing), 1 for
any other failure. The status itself is printed (and is in the ``result`` event).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from infra.local.ports import free_port
from tools.phone import Phone, PhoneSettings, parse_hostport, parse_port_range
from tools.provider_sim import setup_logging

log = logging.getLogger("tools.caller")


class Printer:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: str, text: str, **data: Any) -> None:
        doc = {"event": event, **data}
        self.events.append(doc)
        line = json.dumps(doc) if self.as_json else text
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def _fmt_freqs(freqs: list[float]) -> str:
    return ", ".join(f"{f:.0f} Hz" for f in freqs) if freqs else "no clear tone"


async def place_call(args: argparse.Namespace, out: Printer) -> int:
    edge_host, edge_port = parse_hostport(args.edge, 5060)
    listen_host, listen_port = parse_hostport(args.listen, 0) if args.listen else (edge_host, 0)
    if not listen_port:
        listen_port = free_port()
    transport = f";transport={args.transport}" if args.transport != "udp" else ""
    uri = f"sip:{args.number}@{edge_host}:{edge_port}{transport}"
    rtp_ports = parse_port_range(args.rtp_ports) if args.rtp_ports else None
    phone = Phone(PhoneSettings(host=listen_host, port=listen_port, user="caller", rtp_ports=rtp_ports))
    await phone.start()
    try:
        return await _run(phone, uri, args, out)
    finally:
        await phone.close()


async def _run(phone: Phone, uri: str, args: argparse.Namespace, out: Printer) -> int:
    dtmf = "info" if args.dtmf == "info" else "rtpevent"
    deadline = time.monotonic() + (args.hangup_after if args.hangup_after is not None else args.timeout)
    out("trying", f"trying {uri} from {args.from_ or 'caller'}@{phone.address}", uri=uri, t=0.0)
    call = await phone.dial(uri, from_user=args.from_, dtmf=dtmf)
    # Ctrl-C or SIGTERM hangs up (BYE, or CANCEL while ringing); the run then ends as usual.
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: loop.create_task(call.hangup()))

    def on_call(kind: str, d: dict[str, Any]) -> None:
        t = round(d.get("t", call.now()), 3)
        if kind == "ringing":
            out("ringing", f"ringing (180) at {t:.2f} s", status=180, t=t)
        elif kind == "progress":
            out("progress", f"session progress (183) at {t:.2f} s", status=183, t=t)
        elif kind == "answered":
            out("answered", f"answered (200) at {t:.2f} s", status=200, t=t)
        elif kind == "segment":
            out(
                "prompt",
                f"heard audio {d['start']:.2f}-{d['end']:.2f} s ({d['duration']:.2f} s, "
                f"{d['level_dbfs']:.0f} dBFS, {_fmt_freqs(d['freqs_hz'])})",
                **d,
            )
        elif kind == "digit_sent":
            out("digit", f"sent digit {d['digit']} at {t:.2f} s", digit=d["digit"], t=t, mode=args.dtmf)
        elif kind == "digit":
            out("digit_received", f"received digit {d['digit']} at {t:.2f} s", digit=d["digit"], t=t)

    call.on(on_call)
    remaining = max(0.0, deadline - time.monotonic())
    with contextlib.suppress(Exception):
        await call.wait_answered(remaining)
    if call.answered_at is not None:
        if args.tone:
            call.play_tone(args.tone)
        if args.play:
            call.play_wav(args.play)
        if args.digits:
            with contextlib.suppress(TimeoutError):
                await call.wait_ended(args.digit_delay)
            if call.ended is None:
                await call.send_digits(args.digits, interdigit_ms=int(args.interdigit * 1000))
        remaining = max(0.0, deadline - time.monotonic())
        with contextlib.suppress(TimeoutError):
            await call.wait_ended(remaining)
    if call.ended is None:
        await call.hangup()
        with contextlib.suppress(TimeoutError):
            await call.wait_ended(5)
    end = call.ended
    heard = call.heard_frequencies(2) if call.answered_at is not None else []
    if args.record:
        call.save_wav(args.record)
    if end is None:  # the stack never reported the close
        out("result", "gave up: no close reported", answered=call.answered_at is not None, exit_code=1)
        return 1
    who = "we" if end.by == "local" else "the far end"
    if end.answered:
        out(
            "hangup",
            f"{who} hung up at {end.at:.2f} s ({end.reason})",
            by=end.by,
            reason=end.reason,
            t=round(end.at, 3),
        )
        code = 0
    elif end.by == "local":
        out("cancelled", f"gave up after {end.at:.2f} s without an answer", t=round(end.at, 3))
        code = 3
    else:
        out(
            "failed",
            f"call failed: {end.reason or 'no reason'}",
            status=end.status,
            reason=end.reason,
            t=round(end.at, 3),
        )
        code = end.status // 100 if end.status and end.status >= 300 else 1
    duration = round(end.at - call.answered_at, 3) if call.answered_at is not None else 0.0
    out(
        "result",
        f"result: {'answered' if end.answered else 'not answered'}"
        + (f", talked {duration:.2f} s, heard {_fmt_freqs(heard)}" if end.answered else "")
        + (f", status {end.status}" if end.status else "")
        + (f", recording {args.record}" if args.record else "")
        + f", exit {code}",
        answered=end.answered,
        status=end.status if end.status else (200 if end.answered else None),
        reason=end.reason,
        by=end.by,
        duration=duration,
        heard_hz=heard,
        digits_received="".join(call.digits_received),
        record=str(Path(args.record).resolve()) if args.record else None,
        exit_code=code,
    )
    return code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tools.caller", description="Place one call to the edge as the provider would."
    )
    p.add_argument("number", help="the called number (Request-URI user), e.g. +15551230000")
    p.add_argument("--edge", default="127.0.0.1:5060", help="the edge's SIP address HOST:PORT")
    p.add_argument("--from", dest="from_", default="+15550000000", help="the caller's number (From user)")
    p.add_argument("--listen", help="our SIP address HOST:PORT (default: edge host, a free port)")
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--rtp-ports", help="UDP ports for RTP and RTCP, LOW-HIGH (default: 1024-49152)")
    p.add_argument("--digits", help="DTMF keys to press after the answer")
    p.add_argument("--digit-delay", type=float, default=1.0, help="seconds after the answer (1)")
    p.add_argument("--interdigit", type=float, default=0.15, help="seconds between keys (0.15)")
    p.add_argument("--dtmf", choices=("rtp", "info"), default="rtp", help="RFC 4733 (rtp) or SIP INFO")
    media = p.add_mutually_exclusive_group()
    media.add_argument("--play", help="WAV/MP3 file to send once after the answer")
    media.add_argument("--tone", type=float, help="send a continuous tone at this frequency (Hz)")
    p.add_argument("--record", help="save what was heard to this WAV file")
    p.add_argument("--hangup-after", type=float, help="hang up (or cancel) S seconds after dialling")
    p.add_argument("--timeout", type=float, default=120.0, help="give up after S seconds (120)")
    p.add_argument("--json", action="store_true", help="one JSON event per line")
    p.add_argument("-v", "--verbose", action="store_true", help="log the SIP stack's warnings and more")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(logging.INFO if args.verbose else logging.ERROR)
    if args.play and not Path(args.play).is_file():
        print(f"caller: no such file: {args.play}", file=sys.stderr)
        return 2
    out = Printer(args.json)
    try:
        return asyncio.run(place_call(args, out))
    except KeyboardInterrupt:
        return 130
    except (OSError, ValueError) as e:
        out("result", f"error: {e}", answered=False, status=None, error=str(e), exit_code=1)
        return 1


if __name__ == "__main__":
    sys.exit(main())
