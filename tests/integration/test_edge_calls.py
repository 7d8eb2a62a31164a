"""Real calls through the SIP edge: the whole platform (Azurite, 3 ConfigDB nodes, the functions
host), the edge process, the provider stand-in answering forwarded legs, and the caller placing
calls as the provider would. Everything is configured through the public API; assertions are on
audio (tones detected by frequency), on the History DB and on Blob storage.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.managed import ManagedProcess
from infra.local.stack import LocalStack, signup_verified
from shared.adapters.blob_media import BlobMedia
from shared.adapters.history import open_history_store
from shared.history.models.call import CallRecord
from sip_edge.media import dsp
from tests.otlp_collector import OtlpCollector
from tests.sip_fixtures import (
    SimProcess,
    edge_events,
    run_caller,
    start_caller,
    start_edge,
    start_provider_sim,
    tone_share,
    wait_call_record,
)
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(600)

NUMBER = "+15557770100"
ALICE_PHONE = "+15550001001"  # answers after 0.5 s, plays 1000 Hz
BOB_PHONE = "+15550001002"  # never answers
RULES = {
    ALICE_PHONE: {"action": "answer", "ring_s": 0.5, "tone_hz": 1000, "echo": False, "hangup_after_s": 4.0},
    BOB_PHONE: {"action": "no_answer"},
}


@dataclass
class Edge:
    stack: LocalStack
    sim: SimProcess
    proc: ManagedProcess
    sip_port: int
    control_port: int
    token: str
    tenant_id: str
    menu_id: str
    alice: str
    bob: str
    access: str
    collector: OtlpCollector  # the edge exports its spans and log records here (OTLP/HTTP)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.api, headers={"Authorization": f"Bearer {self.access}"}, timeout=10
        )

    def events(self, name: str) -> list[dict[str, Any]]:
        return edge_events(self.proc.log_path, name)

    def config_revision(self) -> int:
        """The ConfigDB revision up to which the edge has applied every change (its /health)."""
        health = httpx.get(f"http://127.0.0.1:{self.control_port}/health", timeout=5).json()
        return int(health["config"]["revision"])

    def record(self, call_id: str, timeout: float = 10.0) -> CallRecord:
        return wait_call_record(self.stack.settings, self.tenant_id, call_id, self.proc, timeout)

    def last_call_id(self, before: int, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = self.events("call_ended")
            if len(ended) > before:
                return str(ended[-1]["call_id"])
            time.sleep(0.1)
        raise AssertionError(f"no call ended; edge log tail:\n{self.proc.log_tail()}")


def configure(stack: LocalStack) -> tuple[str, str, str, str, str]:
    tenant_id, access = signup_verified(stack, "owner@edge-test.example")
    with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {access}"}, timeout=10) as api:
        alice = api.post(
            "/users",
            json={
                "name": "Alice",
                "email": "alice@edge-test.example",
                "extension": "101",
                "forwarding_numbers": [ALICE_PHONE],
                "ring_timeout_s": 10,
                "recording_enabled": True,
            },
        )
        alice.raise_for_status()
        bob = api.post(
            "/users",
            json={
                "name": "Bob",
                "email": "bob@edge-test.example",
                "extension": "102",
                "forwarding_numbers": [BOB_PHONE],
                "ring_timeout_s": 5,
                "voicemail_enabled": True,
            },
        )
        bob.raise_for_status()
        alice_id, bob_id = alice.json()["id"], bob.json()["id"]
        menu = api.post(
            "/ivr-menus",
            json={
                "name": "Main",
                "greeting": {"text": "Welcome. Press 1 for Alice, 2 for Bob."},
                "options": [
                    {"digit": "1", "action": {"type": "transfer_user", "user_id": alice_id}},
                    {"digit": "2", "action": {"type": "transfer_user", "user_id": bob_id}},
                ],
                "timeout_s": 5,
            },
        )
        menu.raise_for_status()
        menu_id = menu.json()["id"]
        api.post(
            "/numbers", json={"number": NUMBER, "entry": {"type": "menu", "id": menu_id}}
        ).raise_for_status()
    return tenant_id, menu_id, alice_id, bob_id, access


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    base = tmp_path_factory.mktemp("edge")
    with LocalStack(base / "stack") as stack, OtlpCollector() as collector:
        tenant_id, menu_id, alice, bob, access = configure(stack)
        sim = start_provider_sim(base / "sim", RULES)
        try:
            otlp = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "200",
                "OTEL_BLRP_SCHEDULE_DELAY": "200",
            }
            proc, sip_port, control_port = start_edge(stack, sim, base, **otlp)
            try:
                yield Edge(
                    stack,
                    sim,
                    proc,
                    sip_port,
                    control_port,
                    "test-edge-token",
                    tenant_id,
                    menu_id,
                    alice,
                    bob,
                    access,
                    collector,
                )
            finally:
                proc.stop()
        finally:
            sim.stop()


def download(edge: Edge, blob: str, timeout: float = 20.0) -> bytes:
    """A blob ("container/name"), waiting for the edge's upload to land."""
    container, name = blob.split("/", 1)
    blobs = BlobMedia(edge.stack.azurite.connection_string)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                return asyncio.run(blobs.download(container, name))
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        blobs.close()


def test_ivr_digit_forwards_to_user_and_bridges_audio_both_ways(edge: Edge, tmp_path: Path) -> None:
    before = len(edge.events("call_ended"))
    result = run_caller(NUMBER, edge.address, tmp_path, digits="1", digit_delay=1.0, tone=440, timeout=40)
    assert result.answered, result.log[-3000:]
    call_id = edge.last_call_id(before)
    # the caller heard Alice's phone (1000 Hz) once bridged
    pcm, rate = result.recorded()
    tail = pcm[-int(rate * 2 * 2.5) :]  # the last 2.5 s: the bridge
    assert tone_share(tail, rate, 1000, (440, 800, 1200)) > 0.5
    # Alice's phone heard the caller (440 Hz)
    hangup = edge.sim.wait_event("hangup", number=ALICE_PHONE)
    assert any(abs(f - 440) < 15 for f in hangup.get("heard_hz") or []), hangup
    rec = edge.record(call_id)
    assert rec.disposition == "answered"
    assert [(s.menu_id, s.input, s.action) for s in rec.path][:1] == [(edge.menu_id, "1", "transfer_user")]
    forward = [leg for leg in rec.legs if leg.kind == "forward"]
    assert forward and forward[0].destination == ALICE_PHONE and forward[0].outcome == "answered"
    assert rec.user_id == edge.alice
    caller_leg = next(leg for leg in rec.legs if leg.kind == "caller")
    assert caller_leg.quality is not None and caller_leg.quality.packets_rx > 100
    assert caller_leg.quality.mos is not None and caller_leg.quality.mos > 4.0
    # Alice records her calls: both directions mixed into one WAV in Blob `recordings`
    assert rec.recording_blob == f"recordings/{edge.tenant_id}/{call_id}.wav"
    pcm, rate = dsp.read_wav(download(edge, rec.recording_blob))
    assert tone_share(pcm, rate, 1000, (440,)) > 0.05
    assert tone_share(pcm, rate, 440, (1000,)) > 0.05


def test_no_answer_goes_to_voicemail_with_the_callers_tone(edge: Edge, tmp_path: Path) -> None:
    before = len(edge.events("call_ended"))
    caller = start_caller(NUMBER, edge.address, tmp_path, digits="2", digit_delay=1.0, tone=440, timeout=60)
    # wait until the edge records, then let the caller speak for ~3 s and hang up
    deadline = time.monotonic() + 40
    while not [e for e in edge.events("voicemail_recording") if e.get("user_id") == edge.bob]:
        assert time.monotonic() < deadline, edge.proc.log_tail()
        time.sleep(0.05)
    started = time.monotonic()
    time.sleep(3.0)  # the caller speaks for 3 s: the voicemail's length is checked against it
    caller.proc.stop()  # the caller hangs up (SIGTERM: BYE)
    spoke = time.monotonic() - started
    caller.wait()
    call_id = edge.last_call_id(before)
    rec = edge.record(call_id)
    assert rec.disposition == "voicemail", rec
    assert rec.voicemail_blob and rec.voicemail_blob.startswith(f"voicemail/{edge.tenant_id}/{edge.bob}/")
    wav = download(edge, rec.voicemail_blob)
    pcm, rate = dsp.read_wav(wav)
    seconds = len(pcm) / 2 / rate
    assert abs(seconds - spoke) < 1.0, (seconds, spoke)
    assert tone_share(pcm, rate, 440, (1000, 800, 600)) > 0.6
    legs = [leg for leg in rec.legs if leg.kind == "forward"]
    assert legs and legs[0].outcome == "no_answer"
    store = open_history_store(edge.stack.settings)
    try:
        items = store.list_activities(edge.tenant_id, edge.bob).items
    finally:
        store.close()
    assert any(i.kind == "voicemail" and i.call_id == call_id and not i.read for i in items)


def test_menu_changed_through_the_api_applies_to_the_next_call(edge: Edge, tmp_path: Path) -> None:
    with edge.api() as api:
        got = api.get(f"/ivr-menus/{edge.menu_id}")
        got.raise_for_status()
        options = got.json()["options"]
        options = [o for o in options if o["digit"] != "3"] + [{"digit": "3", "action": {"type": "hang_up"}}]
        r = api.patch(
            f"/ivr-menus/{edge.menu_id}", json={"options": options}, headers={"If-Match": got.headers["ETag"]}
        )
        r.raise_for_status()
    revision = int(r.headers["ETag"].strip('W/"'))
    eventually(lambda: edge.config_revision() >= revision, timeout=5, message=f"edge at revision {revision}")
    before = len(edge.events("call_ended"))
    # this time the digit travels as SIP INFO instead of RFC 4733
    result = run_caller(NUMBER, edge.address, tmp_path, digits="3", digit_delay=1.0, dtmf="info", timeout=30)
    assert result.answered
    rec = edge.record(edge.last_call_id(before))
    assert [(s.input, s.action) for s in rec.path] == [("3", "hang_up")]


def test_unknown_number_gets_404(edge: Edge, tmp_path: Path) -> None:
    result = run_caller("+15559990000", edge.address, tmp_path, timeout=15)
    assert result.status == 404, result.log[-2000:]


def test_hang_up_during_the_greeting_is_recorded_as_abandoned(edge: Edge, tmp_path: Path) -> None:
    before = len(edge.events("call_ended"))
    result = run_caller(NUMBER, edge.address, tmp_path, hangup_after=1.5, timeout=15)
    assert result.answered
    rec = edge.record(edge.last_call_id(before))
    assert rec.disposition == "abandoned"
    assert rec.hangup_reason == "caller_hangup"


def _host_runs(stack: LocalStack, function: str, message_id: str) -> list[dict[str, Any]]:
    return [
        e
        for e in edge_events(stack.host.log_path, "function_run")
        if e.get("function") == function and e.get("message_id") == message_id
    ]


def test_a_call_from_the_trunk_is_one_trace_from_the_invite_to_its_call_ended_function(
    edge: Edge, tmp_path: Path
) -> None:
    """The INVITE starts a trace: every line the edge writes for the call carries its trace id,
    and so does the functions host's run of the `call-ended` message the call sends; the edge
    exports the call's span and log records (with their fields) over OTLP."""
    before = len(edge.events("call_ended"))
    result = run_caller(NUMBER, edge.address, tmp_path, hangup_after=1.5, timeout=15)
    assert result.answered
    call_id = edge.last_call_id(before)
    lines = [e for e in edge_events(edge.proc.log_path, "invite_answered") if e.get("call_id") == call_id]
    lines += [e for e in edge.events("call_ended") if e.get("call_id") == call_id]
    traces = {line.get("trace_id") for line in lines}
    assert len(lines) == 2 and len(traces) == 1, lines
    (trace,) = traces
    assert isinstance(trace, str) and len(trace) == 32 and int(trace, 16), lines
    runs = eventually(
        lambda: _host_runs(edge.stack, "call_ended", f"{call_id}:call-ended"),
        timeout=20,
        message="the call_ended function's run for the call",
    )
    assert runs[0]["outcome"] == "ok", runs
    assert runs[0].get("trace_id") == trace, runs
    assert runs[0].get("tenant_id") == edge.tenant_id, runs
    # the edge's OpenTelemetry export: the call's server span, and its log records with their fields
    spans = eventually(
        lambda: [s for s in edge.collector.span_records("sip-edge") if s.trace_id == trace],
        message="the call's span at the collector",
    )
    assert [s.name for s in spans] == ["edge inbound call"], spans
    records = eventually(
        lambda: [
            r
            for r in edge.collector.log_records("sip-edge")
            if r.body == "call_ended" and r.attributes.get("call_id") == call_id
        ],
        message="the call_ended log record at the collector",
    )
    assert records[0].trace_id == trace and records[0].span_id == spans[0].span_id
    assert records[0].attributes["tenant_id"] == edge.tenant_id
    assert records[0].attributes["trace_id"] == trace


def test_invite_from_an_address_off_the_trunk_gets_403(edge: Edge, tmp_path: Path) -> None:
    # a second edge whose trunk is elsewhere: our loopback caller is a stranger to it
    proc, sip_port, _ = start_edge(edge.stack, edge.sim, tmp_path, TRUNK_ALLOWED_SOURCES="192.0.2.0/24")
    try:
        result = run_caller(NUMBER, f"127.0.0.1:{sip_port}", tmp_path, timeout=15)
        assert result.status == 403, result.log[-2000:]
        assert "source_not_on_trunk" in proc.log_path.read_text()
    finally:
        proc.stop()


def test_control_api_health_metrics_and_auth(edge: Edge) -> None:
    base = f"http://127.0.0.1:{edge.control_port}"
    health = httpx.get(f"{base}/health").json()
    assert health["status"] == "ok" and health["active_calls"] == 0
    metrics = httpx.get(f"{base}/metrics").text
    assert "edge_calls_total" in metrics and "edge_active_calls" in metrics
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{base}/readyz")  # no token: a probe carries none
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"sip": "ok", "config": "ok", "draining": "ok"}}
    r = httpx.get(f"{base}/v1/tenants/{edge.tenant_id}/calls")
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    auth = {"Authorization": f"Bearer {edge.token}"}
    assert httpx.get(f"{base}/v1/tenants/{edge.tenant_id}/calls", headers=auth).json() == {"items": []}
    bad = httpx.post(
        f"{base}/v1/calls",
        headers=auth,
        json={"tenant_id": edge.tenant_id, "user_id": edge.alice, "destination": "not-a-number"},
    )
    assert bad.status_code == 422
    gone = httpx.delete(f"{base}/v1/tenants/{edge.tenant_id}/calls/nope", headers=auth)
    assert gone.status_code == 404
