"""Real processes on the provider's side of the trunk, for SIP tests.

- ``provider_sim`` (fixture): ``provider_sim(rules, edge=...) -> SimProcess`` starts
  ``python -m tools.provider_sim`` on free ports (SIP on UDP+TCP, HTTP control) and
  stops it after the test. ``SimProcess`` follows its JSON events (``events()``,
  ``wait_event(name, **match)``) and changes its rules live (``set_rules``,
  ``patch_rules``).
- ``run_caller(number, edge, base_dir, ...) -> CallerResult`` runs
  ``python -m tools.caller --json`` to completion; ``start_caller`` returns a handle
  to wait on later (to act while the call is up). ``CallerResult`` holds the exit code,
  the parsed events and the recorded WAV.
- ``start_edge(stack, sim, base, **env) -> (ManagedProcess, sip_port, control_port)`` starts
  ``python -m sip_edge`` against a ``LocalStack`` with its trunk pointing at ``sim``.

Use in a test module::

    pytest_plugins = ["tests.sip_fixtures"]  # fixtures: provider_sim, caller
    from tests.sip_fixtures import SimProcess, CallerResult, run_caller, start_caller
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
import wave
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from infra.local.commands import edge_command
from infra.local.managed import ManagedProcess, http_ok
from infra.local.ports import free_port, rtp_port_range
from shared.adapters.history import open_history_store
from sip_edge.media import dsp

if TYPE_CHECKING:
    from infra.local.stack import LocalStack
    from shared.history.models.call import CallRecord
    from shared.settings import Settings

Rules = Mapping[str, Mapping[str, Any]]


def _events_in(path: Path) -> list[dict[str, Any]]:
    """The JSON events (stdout) in a log that also holds JSON log lines (stderr, "level")."""
    out: list[dict[str, Any]] = []
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "event" in doc and "level" not in doc:
            out.append(doc)
    return out


def _matches(doc: Mapping[str, Any], match: Mapping[str, Any]) -> bool:
    return all(doc.get(k) == v for k, v in match.items())


def edge_events(log_path: Path, name: str) -> list[dict[str, Any]]:
    """The edge's structured log lines (JSON, one per line) whose event is `name`."""
    out = []
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("event") == name:
                out.append(doc)
    return out


def wait_call_record(
    settings: Settings, tenant_id: str, call_id: str, edge: ManagedProcess, timeout: float = 15.0
) -> CallRecord:
    """The History DB's record of `call_id`, waiting for the edge to write it."""
    store = open_history_store(settings)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rec = store.get_call(tenant_id, call_id)
            if rec is not None:
                return rec
            time.sleep(0.1)
    finally:
        store.close()
    raise AssertionError(f"no call record {call_id}; edge log tail:\n{edge.log_tail()}")


def tone_share(pcm: bytes, rate: int, freq: float, others: tuple[float, ...], block_ms: int = 100) -> float:
    """`freq`'s share of the power at `freq` and `others` in audio of a live call (16-bit mono
    PCM), summed over `block_ms` blocks. Per block, not over the whole recording: live audio
    has small gaps and slips (a late packet, a mixer or jitter buffer catching up) that shift a
    tone's phase, and one Goertzel over the whole recording adds the parts before and after a
    slip with their phases, so that half a cycle apart they cancel (a 1000 Hz tone heard all
    through a 4 s recording measured 2% of its power after one slip at 2.2 s)."""
    n = rate * block_ms // 1000 * 2
    blocks = [pcm[i : i + n] for i in range(0, len(pcm) - n + 1, n)] or [pcm]
    powers = {f: sum(dsp.tone_power(b, rate, f) for b in blocks) for f in (freq, *others)}
    return powers[freq] / (sum(powers.values()) or 1.0)


# -- the provider stand-in ----------------------------------------------------------------


@dataclass
class SimProcess:
    proc: ManagedProcess
    host: str
    sip_port: int
    control_port: int

    @property
    def address(self) -> str:
        """Its SIP address, HOST:PORT (what the edge's trunk points at)."""
        return f"{self.host}:{self.sip_port}"

    @property
    def control_url(self) -> str:
        return f"http://{self.host}:{self.control_port}"

    def events(self, name: str | None = None, **match: Any) -> list[dict[str, Any]]:
        docs = _events_in(self.proc.log_path)
        return [d for d in docs if (name is None or d["event"] == name) and _matches(d, match)]

    def wait_event(self, name: str, timeout: float = 15.0, **match: Any) -> dict[str, Any]:
        """The first event ``name`` whose fields equal ``match``; TimeoutError if none comes."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(name, **match)
            if found:
                return found[0]
            if not self.proc.alive():
                raise RuntimeError(f"provider_sim exited:\n{self.proc.log_tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {name} {match} from provider_sim; log tail:\n{self.proc.log_tail()}")
            time.sleep(0.05)

    def set_rules(self, rules: Rules) -> dict[str, Any]:
        """Replace every rule (PUT /rules)."""
        r = httpx.put(f"{self.control_url}/rules", json=dict(rules), timeout=5)
        r.raise_for_status()
        return r.json()

    def patch_rules(self, rules: Rules) -> dict[str, Any]:
        """Add or replace the rules of some numbers (PATCH /rules)."""
        r = httpx.patch(f"{self.control_url}/rules", json=dict(rules), timeout=5)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.proc.stop()


def start_provider_sim(
    base_dir: Path, rules: Rules | None = None, *, edge: str = "127.0.0.1:5060", host: str = "127.0.0.1"
) -> SimProcess:
    """Start ``tools.provider_sim`` on free ports and wait until it answers HTTP."""
    base_dir.mkdir(parents=True, exist_ok=True)
    rules_path = base_dir / "provider_rules.json"
    rules_path.write_text(json.dumps(dict(rules or {})))
    sip_port = free_port()
    control_port = free_port()
    proc = ManagedProcess(
        name="provider_sim",
        cmd=[
            sys.executable,
            "-m",
            "tools.provider_sim",
            "--listen",
            f"{host}:{sip_port}",
            "--edge",
            edge,
            "--rules",
            str(rules_path),
            "--control-port",
            str(control_port),
            "--rtp-ports",
            rtp_port_range(),
        ],
        log_path=base_dir / f"provider_sim-{sip_port}.log",
        ready=http_ok(f"http://{host}:{control_port}/health"),
    )
    proc.start()
    try:
        proc.wait_ready(timeout=20)
    except BaseException:
        proc.stop()
        raise
    return SimProcess(proc=proc, host=host, sip_port=sip_port, control_port=control_port)


@pytest.fixture
def provider_sim(tmp_path: Path) -> Iterator[Callable[..., SimProcess]]:
    """``provider_sim(rules=None, edge="127.0.0.1:5060") -> SimProcess``; stopped after the test."""
    started: list[SimProcess] = []

    def make(rules: Rules | None = None, *, edge: str = "127.0.0.1:5060") -> SimProcess:
        sim = start_provider_sim(tmp_path / f"sim{len(started)}", rules, edge=edge)
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


# -- the edge -----------------------------------------------------------------------------

EDGE_TOKEN = "test-edge-token"


def start_edge(stack: LocalStack, sim: SimProcess, base: Path, **env: str) -> tuple[ManagedProcess, int, int]:
    """Start ``python -m sip_edge`` on free ports with the stack's settings, its provider trunk at
    ``sim``, and wait for its control API: ``(process, sip_port, control_port)``. ``env`` overrides
    any variable; ``EDGE_CONTROL_PORT`` picks the control port (default: a free one), and the
    control token is ``EDGE_TOKEN`` unless ``EDGE_CONTROL_TOKEN`` is given."""
    sip_port = free_port()
    control_port = int(env.pop("EDGE_CONTROL_PORT", 0)) or free_port()
    proc = ManagedProcess(
        "sip_edge",
        edge_command(base / f"edge-{sip_port}"),
        base / f"edge-{sip_port}.log",
        http_ok(f"http://127.0.0.1:{control_port}/health"),
        env={
            **stack.settings.as_env(),
            "SIP_HOST": "127.0.0.1",
            "SIP_PORT": str(sip_port),
            "EDGE_CONTROL_PORT": str(control_port),
            "PROVIDER_ADDRESS": sim.address,
            "SIP_RTP_PORTS": rtp_port_range(32),
            "EDGE_CONTROL_TOKEN": EDGE_TOKEN,
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


# -- the caller ---------------------------------------------------------------------------


@dataclass
class CallerResult:
    exit_code: int
    events: list[dict[str, Any]]
    record_path: Path | None
    log: str = field(repr=False, default="")

    def event(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.events if e["event"] == name), None)

    def all(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]

    @property
    def result(self) -> dict[str, Any]:
        return self.event("result") or {}

    @property
    def answered(self) -> bool:
        return bool(self.result.get("answered"))

    @property
    def status(self) -> int | None:
        """The final SIP status (200 when answered, e.g. 486 when busy), None if none."""
        return self.result.get("status")

    @property
    def prompts(self) -> list[dict[str, Any]]:
        """Stretches of audio heard: start, end, duration, level_dbfs, freqs_hz."""
        return self.all("prompt")

    @property
    def heard_hz(self) -> list[float]:
        return list(self.result.get("heard_hz") or [])

    def recorded(self) -> tuple[bytes, int]:
        """(16-bit mono PCM, sample rate) of what the caller heard."""
        assert self.record_path is not None, "run_caller(record=False)"
        with wave.open(str(self.record_path), "rb") as w:
            return w.readframes(w.getnframes()), w.getframerate()


@dataclass
class CallerProcess:
    proc: ManagedProcess
    record_path: Path | None
    timeout: float

    def events(self) -> list[dict[str, Any]]:
        return _events_in(self.proc.log_path)

    def wait_event(self, name: str, timeout: float = 15.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = [e for e in self.events() if e["event"] == name]
            if found:
                return found[0]
            if not self.proc.alive() or time.monotonic() > deadline:
                raise TimeoutError(f"caller printed no {name}; log tail:\n{self.proc.log_tail()}")
            time.sleep(0.05)

    def wait(self) -> CallerResult:
        deadline = time.monotonic() + self.timeout
        while self.proc.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.proc.alive():
            self.proc.stop()
            raise TimeoutError(f"caller still running after {self.timeout:.0f}s:\n{self.proc.log_tail()}")
        code = self.proc.exit_code()
        assert code is not None
        log = self.proc.log_tail(200_000)
        record = self.record_path if self.record_path and self.record_path.exists() else None
        return CallerResult(exit_code=code, events=self.events(), record_path=record, log=log)


def start_caller(
    number: str,
    edge: str,
    base_dir: Path,
    *,
    digits: str | None = None,
    digit_delay: float | None = None,
    dtmf: str | None = None,
    play: Path | str | None = None,
    tone: float | None = None,
    record: bool = True,
    hangup_after: float | None = None,
    from_: str | None = None,
    transport: str | None = None,
    listen: str | None = None,
    timeout: float = 60.0,
) -> CallerProcess:
    """Start ``python -m tools.caller NUMBER --edge EDGE --json ...`` in the background."""
    base_dir.mkdir(parents=True, exist_ok=True)
    tag = f"{number.lstrip('+')}-{free_port()}"
    cmd = [sys.executable, "-m", "tools.caller", number, "--edge", edge, "--json"]
    cmd += ["--timeout", str(timeout), "--rtp-ports", rtp_port_range(4)]
    record_path = base_dir / f"caller-{tag}.wav" if record else None
    options: list[tuple[str, Any]] = [
        ("--digits", digits),
        ("--digit-delay", digit_delay),
        ("--dtmf", dtmf),
        ("--play", play),
        ("--tone", tone),
        ("--record", record_path),
        ("--hangup-after", hangup_after),
        ("--from", from_),
        ("--transport", transport),
        ("--listen", listen),
    ]
    for flag, value in options:
        if value is not None:
            cmd += [flag, str(value)]
    proc = ManagedProcess(name="caller", cmd=cmd, log_path=base_dir / f"caller-{tag}.log", ready=lambda: True)
    proc.start()
    return CallerProcess(proc=proc, record_path=record_path, timeout=timeout + 15)


def run_caller(number: str, edge: str, base_dir: Path, **options: Any) -> CallerResult:
    """Place one call and wait for the caller to exit (see ``start_caller`` for options)."""
    caller = start_caller(number, edge, base_dir, **options)
    try:
        return caller.wait()
    finally:
        with contextlib.suppress(Exception):
            caller.proc.stop()


@pytest.fixture
def caller(tmp_path: Path) -> Callable[..., CallerResult]:
    """``caller(number, edge, **options) -> CallerResult``: ``run_caller`` under tmp_path."""

    def call(number: str, edge: str, **options: Any) -> CallerResult:
        return run_caller(number, edge, tmp_path / "callers", **options)

    return call
