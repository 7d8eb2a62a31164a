"""The local stand-in for the provider's PSTN side ("the phone network").

    python -m tools.provider_sim --listen 127.0.0.1:5070 --edge 127.0.0.1:5060 \\
        [--rules rules.json] [--control-port 5072] [--rtp-ports LOW-HIGH]

It answers the legs the edge dials out (``INVITE sip:+1555...@provider``) by simple
per-number rules: ring for ``ring_s`` seconds (a 180 goes out at once), then

- ``answer``: answer, echo what it hears (``echo``, default on) and/or play a continuous
  ``tone_hz`` so a test can tell who answered; hang up after ``hangup_after_s`` if set;
  press ``digits`` ``digits_after_s`` after answering if set; save what it heard as
  ``{record_to}/{call}.wav`` when ``record_to`` (a directory) is set;
- ``busy``: 486 Busy Here;   ``decline``: 603 Decline;   ``reject``: any ``status``;
- ``no_answer``: ring until the caller gives up (CANCEL).

Rules file (JSON): ``{"+15551230001": {"action": "answer", "ring_s": 2, "tone_hz": 700},
"*": {...}}`` — ``*`` is the default for numbers with no rule of their own (built-in
default: answer after 1 s, echo). Rules can be replaced while it runs: ``PUT /rules``
(the whole map) or ``PATCH /rules`` (merged per number) on the control port; ``GET
/rules``, ``GET /events`` (everything printed so far), ``GET /calls``, ``GET /health``.

Every event is one JSON line on stdout: listening, incoming, ringing, answered,
rejected, digit, segment (audio heard), hangup (with ``by``, ``heard_hz``, ``digits``),
cancelled, rules. Logs are JSON lines on stderr.
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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tools.phone import Phone, PhoneCall, PhoneSettings, parse_hostport, parse_port_range

log = logging.getLogger("tools.provider_sim")

Action = Literal["answer", "busy", "decline", "reject", "no_answer"]


class Rule(BaseModel):
    """How the simulated network treats calls to one number."""

    model_config = ConfigDict(extra="forbid")

    action: Action = "answer"
    ring_s: float = Field(default=1.0, ge=0, le=3600)
    tone_hz: float | None = Field(default=None, gt=0, lt=4000)
    echo: bool = True
    status: int = Field(default=480, ge=300, le=699)  # for action "reject"
    reason: str | None = None
    hangup_after_s: float | None = Field(default=None, gt=0)
    digits: str | None = Field(default=None, pattern=r"^[0-9A-Da-d*#]+$")
    digits_after_s: float = Field(default=1.0, ge=0)
    record_to: str | None = None  # a directory: what the call heard goes to {record_to}/{call}.wav


Rules = dict[str, Rule]
_RULES = TypeAdapter(Rules)
DEFAULT_RULE = Rule()


def rule_for(rules: Rules, number: str | None) -> Rule:
    if number is not None and number in rules:
        return rules[number]
    return rules.get("*", DEFAULT_RULE)


def load_rules(text: str) -> Rules:
    return _RULES.validate_json(text or "{}")


class Events:
    """One JSON line per event on stdout, kept in memory for GET /events."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def emit(self, event: str, **data: Any) -> None:
        doc = {"event": event, "ts": round(time.time(), 3), **data}
        self.items.append(doc)
        if len(self.items) > 10000:
            del self.items[:1000]
        sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()


class ProviderSim:
    def __init__(self, phone: Phone, rules: Rules, events: Events, edge: str | None) -> None:
        self.phone = phone
        self.rules = rules
        self.events = events
        self.edge = edge
        self._tasks: set[asyncio.Task[None]] = set()
        phone.on_incoming(self._on_incoming)

    def _on_incoming(self, call: PhoneCall) -> None:
        task = asyncio.get_running_loop().create_task(self._handle(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, call: PhoneCall) -> None:
        rule = rule_for(self.rules, call.number)
        base = {"number": call.number, "call": call.id, "sip_call_id": call.sip_call_id}
        ev = self.events.emit
        ev("incoming", **base, caller=call.remote, action=rule.action, ring_s=rule.ring_s)

        def on_call(kind: str, data: dict[str, Any]) -> None:
            if kind == "digit":
                ev("digit", **base, digit=data["digit"], t=round(data["t"], 3))
            elif kind == "segment":
                ev("segment", **base, **data)

        call.on(on_call)
        ev("ringing", **base, status=180)
        try:
            if rule.action == "no_answer":
                end = await call.wait_ended()
                ev("cancelled", **base, reason=end.reason, t=round(end.at, 3))
                return
            if rule.ring_s:
                with contextlib.suppress(TimeoutError):
                    await call.wait_ended(rule.ring_s)
            if call.ended is not None:
                ev("cancelled", **base, reason=call.ended.reason, t=round(call.ended.at, 3))
                return
            if rule.action in ("busy", "decline", "reject"):
                status, reason = {
                    "busy": (486, "Busy Here"),
                    "decline": (603, "Decline"),
                    "reject": (rule.status, rule.reason or "Temporarily Unavailable"),
                }[rule.action]
                await call.reject(status, rule.reason or reason)
                ev("rejected", **base, status=status)
                return
            await self._answer(call, rule, base)
        except Exception:
            log.exception("call handling failed", extra={"call": call.id})
            await call.hangup()

    async def _answer(self, call: PhoneCall, rule: Rule, base: dict[str, Any]) -> None:
        ev = self.events.emit
        call.set_echo(rule.echo)
        call.play_tone(rule.tone_hz)
        await call.answer()
        try:
            await call.wait_answered(10)
        except Exception as e:
            ev("failed", **base, reason=str(e))
            return
        ev("answered", **base, status=200, tone_hz=rule.tone_hz, echo=rule.echo)
        loop = asyncio.get_running_loop()
        if rule.digits:
            loop.call_later(rule.digits_after_s, lambda: loop.create_task(self._press(call, rule, base)))
        if rule.hangup_after_s is not None:
            with contextlib.suppress(TimeoutError):
                await call.wait_ended(rule.hangup_after_s)
            if call.ended is None:
                await call.hangup()
        end = await call.wait_ended()
        heard = await asyncio.to_thread(call.heard_frequencies, 2)
        recording = None
        if rule.record_to is not None:
            path = Path(rule.record_to) / f"{call.id}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(call.save_wav, path)
            recording = str(path)
        ev(
            "hangup",
            **base,
            recording=recording,
            by=end.by,
            reason=end.reason,
            duration=round(end.at - (call.answered_at or end.at), 3),
            heard_hz=heard,
            digits="".join(call.digits_received),
        )

    async def _press(self, call: PhoneCall, rule: Rule, base: dict[str, Any]) -> None:
        if call.ended is None and rule.digits:
            await call.send_digits(rule.digits)
            self.events.emit("digits_sent", **base, digits=rule.digits)

    def calls(self) -> list[dict[str, Any]]:
        return [
            {"call": c.id, "number": c.number, "caller": c.remote, "answered": c.answered_at is not None}
            for c in self.phone.calls.values()
        ]


# -- the control port: a tiny HTTP/1.1 server (stdlib asyncio) ---------------------------


async def _http(sim: ProviderSim, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = ([*lines[0].split(" "), "", ""])[:3]
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = await asyncio.wait_for(reader.readexactly(length), 10) if length else b""
        status, doc = _route(sim, method.upper(), path.split("?")[0], body)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
        status, doc = 400, {"error": "bad request"}
    payload = json.dumps(doc).encode()
    reason = {
        200: "OK",
        400: "Bad Request",
        404: "Not Found",
        405: "Method Not Allowed",
        422: "Unprocessable",
    }
    writer.write(
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
        + payload
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    writer.close()


def _route(sim: ProviderSim, method: str, path: str, body: bytes) -> tuple[int, Any]:
    if path == "/health" and method == "GET":
        return 200, {"ok": True, "listen": sim.phone.address, "active_calls": len(sim.phone.calls)}
    if path == "/events" and method == "GET":
        return 200, sim.events.items
    if path == "/calls" and method == "GET":
        return 200, sim.calls()
    if path == "/rules":
        if method == "GET":
            return 200, _RULES.dump_python(sim.rules, mode="json")
        if method in ("PUT", "PATCH"):
            try:
                new = load_rules(body.decode() or "{}")
            except (ValidationError, UnicodeDecodeError) as e:
                return 422, {"error": str(e)}
            sim.rules = new if method == "PUT" else {**sim.rules, **new}
            sim.events.emit("rules", numbers=sorted(sim.rules))
            return 200, _RULES.dump_python(sim.rules, mode="json")
        return 405, {"error": "method not allowed"}
    return 404, {"error": "not found"}


# -- main --------------------------------------------------------------------------------


def setup_logging(level: int = logging.WARNING) -> None:
    class Json(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            doc = {"level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage()}
            if record.exc_info:
                doc["exc"] = self.formatException(record.exc_info)
            return json.dumps(doc)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Json())
    logging.basicConfig(level=level, handlers=[handler], force=True)


async def amain(args: argparse.Namespace) -> int:
    host, port = parse_hostport(args.listen, 5070)
    rules = load_rules(Path(args.rules).read_text()) if args.rules else {}
    events = Events()
    rtp_ports = parse_port_range(args.rtp_ports) if args.rtp_ports else None
    phone = Phone(PhoneSettings(host=host, port=port, user="provider", rtp_ports=rtp_ports))
    await phone.start()
    server = None
    try:
        sim = ProviderSim(phone, rules, events, args.edge)
        if args.control_port:
            server = await asyncio.start_server(lambda r, w: _http(sim, r, w), host, args.control_port)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        events.emit(
            "listening",
            listen=f"{host}:{port}",
            edge=args.edge,
            control_port=args.control_port,
            rules=len(rules),
        )
        await stop.wait()
    finally:
        if server is not None:
            server.close()
        await phone.close()
        events.emit("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.provider_sim", description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default="127.0.0.1:5070", help="SIP address (UDP and TCP), HOST:PORT")
    p.add_argument("--edge", default="127.0.0.1:5060", help="the edge's SIP address (reported)")
    p.add_argument("--rules", help="JSON file: number -> rule ('*' is the default)")
    p.add_argument("--control-port", type=int, default=0, help="HTTP control port (0: none)")
    p.add_argument("--rtp-ports", help="UDP ports for RTP and RTCP, LOW-HIGH (default: 1024-49152)")
    p.add_argument("-v", "--verbose", action="store_true")
    args = p.parse_args(argv)
    setup_logging(logging.INFO if args.verbose else logging.WARNING)
    try:
        return asyncio.run(amain(args))
    except (ValidationError, OSError) as e:
        print(f"provider_sim: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
