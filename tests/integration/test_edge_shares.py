"""Each tenant's share of the edge, and announcements that are never billed, with real processes:
the platform (Azurite, 3 ConfigDB nodes, the functions host), the SIP edge with 8 legs and a
share of 0.5 (4 legs a tenant), the provider stand-in and the caller.

- One tenant floods click-to-call through the API: it gets its share (two calls, four legs
  reserved), then 429 `edge-share-exhausted`; another tenant's inbound call is still answered,
  while the flooding tenant's own inbound call gets 486.
- A suspended tenant's caller hears the announcement as early media (183 Session Progress with
  audio), then gets 403: never a 200, so the call is never billed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.configdb_cluster import free_port
from infra.local.managed import ManagedProcess
from infra.local.stack import LocalStack, signup_verified
from shared.configdb import ConfigDBClient
from shared.configdb_keys import tenant_key
from tests.integration.test_reports_rates_quality import run_and_wait
from tests.sip_fixtures import EDGE_TOKEN, SimProcess, edge_events, run_caller, start_edge, start_provider_sim

pytestmark = pytest.mark.timeout(300)

MAX_LEGS, SHARE = 8, 0.5
FLOOD_PHONE = "+15550004001"  # the flooding tenant's mobile: rings and rings
B_PHONE = "+15550004002"  # the other tenant's mobile: answers
DEST = "+15550004999"
RULES = {
    FLOOD_PHONE: {"action": "no_answer"},
    B_PHONE: {"action": "answer", "ring_s": 0.3, "tone_hz": 900, "echo": False},
    DEST: {"action": "no_answer"},
}


@dataclass
class Edge:
    stack: LocalStack
    sim: SimProcess
    proc: ManagedProcess
    sip_port: int
    control_port: int
    a_access: str
    a_number: str
    b_number: str
    c_number: str

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def health(self) -> dict[str, Any]:
        r = httpx.get(f"http://127.0.0.1:{self.control_port}/health", timeout=5)
        body: dict[str, Any] = r.json()
        return body


def _tenant(stack: LocalStack, email: str, company: str, phone: str, number: str) -> tuple[str, str]:
    """A tenant whose owner's phone is `phone` and whose number `number` rings the owner."""
    tenant_id, access = signup_verified(stack, email, company=company)
    with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {access}"}, timeout=10) as api:
        me = next(u for u in api.get("/users").json()["items"] if u["email"] == email)
        r = api.patch(f"/users/{me['id']}", json={"forwarding_numbers": [phone], "ring_timeout_s": 60})
        r.raise_for_status()
        r = api.post("/numbers", json={"number": number, "entry": {"type": "user", "id": me["id"]}})
        assert r.status_code == 201, r.text
    return tenant_id, access


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    base = tmp_path_factory.mktemp("shares")
    control_port = free_port()
    overrides = {"edge_control_url": f"http://127.0.0.1:{control_port}", "edge_control_token": EDGE_TOKEN}
    with LocalStack(base / "stack", settings_overrides=overrides) as stack:
        a_number, b_number, c_number = "+15557770401", "+15557770402", "+15557770403"  # the demo inventory
        _, a_access = _tenant(stack, "owner@flood.example", "Flood Co", FLOOD_PHONE, a_number)
        _tenant(stack, "owner@quiet.example", "Quiet Co", B_PHONE, b_number)
        c_id, _ = _tenant(stack, "owner@barred.example", "Barred Co", B_PHONE, c_number)
        with ConfigDBClient(stack.cluster.endpoints, stack.cluster.token) as db:
            kv = db.get(tenant_key(c_id))
            doc = {**kv.value, "status": "suspended", "status_changed_at": "2026-01-01T00:00:00Z"}
            db.put(tenant_key(c_id), doc, prev_revision=kv.revision)
        published = run_and_wait(stack, "rates_sync")
        assert published["rates_outcome"] == "published", published
        with httpx.Client(
            base_url=stack.api, headers={"Authorization": f"Bearer {a_access}"}, timeout=10
        ) as api:  # only the share can stop this tenant
            r = api.put("/outbound-policy", json={"max_concurrent_calls": 32, "calls_per_minute": 60})
            assert r.status_code == 200, r.text
        sim = start_provider_sim(base / "sim", RULES)
        try:
            proc, sip_port, _ = start_edge(
                stack,
                sim,
                base,
                EDGE_CONTROL_PORT=str(control_port),
                EDGE_MAX_LEGS=str(MAX_LEGS),
                EDGE_TENANT_SHARE=str(SHARE),
            )
            try:
                yield Edge(stack, sim, proc, sip_port, control_port, a_access, a_number, b_number, c_number)
            finally:
                proc.stop()
        finally:
            sim.stop()


def test_a_click_to_call_flood_takes_only_its_share_and_others_are_still_answered(
    edge: Edge, tmp_path: Path
) -> None:
    accepted: list[str] = []
    refused: list[dict[str, Any]] = []
    with httpx.Client(
        base_url=edge.stack.api, headers={"Authorization": f"Bearer {edge.a_access}"}, timeout=15
    ) as api:
        for _ in range(MAX_LEGS):
            r = api.post("/calls", json={"destination": DEST})
            if r.status_code == 202:
                accepted.append(r.json()["call_id"])
            else:
                assert r.status_code == 429, r.text
                assert r.headers["content-type"] == "application/problem+json"
                assert int(r.headers["retry-after"]) >= 1
                refused.append(r.json())
        assert len(accepted) == 2, (accepted, refused)  # two legs each: 4 = 8 * 0.5
        assert {p["type"].rsplit("/", 1)[1] for p in refused} == {"edge-share-exhausted"}, refused
        assert "call legs" in refused[0]["detail"]
        health = edge.health()
        assert health["tenant_leg_cap"] == 4 and max(health["tenant_legs"].values()) == 4, health
        try:
            # another tenant's inbound call is answered
            quiet = run_caller(edge.b_number, edge.address, tmp_path / "b", hangup_after=4.0, timeout=20)
            assert quiet.answered and quiet.status == 200, quiet.log[-3000:]
            # the flooding tenant's own inbound call is refused at its share: 486, not the edge's 503
            flood = run_caller(edge.a_number, edge.address, tmp_path / "a", timeout=20)
            assert not flood.answered and flood.status == 486, flood.log[-3000:]
        finally:
            for call_id in accepted:
                api.delete(f"/calls/active/{call_id}")
    rejected = [e for e in edge_events(edge.proc.log_path, "invite_rejected") if e["why"] == "tenant_share"]
    assert rejected and rejected[-1]["status"] == 486 and rejected[-1]["tenant_id"], rejected
    deadline = time.monotonic() + 15
    while edge.health()["tenant_legs"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert edge.health()["tenant_legs"] == {}  # every leg given back


def test_a_suspended_tenants_caller_hears_early_media_then_403_and_is_never_answered(
    edge: Edge, tmp_path: Path
) -> None:
    result = run_caller(edge.c_number, edge.address, tmp_path / "c", timeout=40)
    assert result.event("progress") is not None, result.log[-3000:]  # 183 Session Progress
    assert result.event("answered") is None and not result.answered, result.log[-3000:]
    assert result.status == 403, result.result
    heard = result.prompts
    assert heard and sum(p["duration"] for p in heard) > 0.5, result.log[-3000:]
    announced = [
        e for e in edge_events(edge.proc.log_path, "announcement") if e["reason"] == "tenant_suspended"
    ]
    assert announced and announced[-1]["early_media"] is True and announced[-1]["final_status"] == 403
