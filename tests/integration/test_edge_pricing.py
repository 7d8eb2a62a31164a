"""The edge prices the legs it places by the rate table that `rates_sync` publishes: the real stack
(Azurite, ConfigDB, the functions host running `rates_sync` through `POST /admin/functions/{name}`),
the edge process, the provider stand-in answering, and the caller placing the call."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import pytest

from infra.local.azurite import AZURITE_BIN
from infra.local.configdb_cluster import free_port
from infra.local.stack import LocalStack, signup_verified
from shared.history.models.call import CallRecord, Leg
from tests.integration.test_reports_rates_quality import current_pointer, run_and_wait
from tests.sip_fixtures import edge_events, run_caller, start_edge, start_provider_sim, wait_call_record

pytestmark = [
    pytest.mark.skipif(not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"),
    pytest.mark.timeout(300),
]

TOKEN = "pricing-edge-token"
NUMBER = "+15557770300"  # the tenant's number: rings Alice
ALICE_PHONE = "+15550004001"  # answers, hangs up after 3 s of talk
DEST = "+447911000402"  # a click-to-call customer abroad (GB): answers, hangs up after 2 s
RULES = {
    ALICE_PHONE: {"action": "answer", "ring_s": 0.3, "tone_hz": 1000, "echo": False, "hangup_after_s": 3.0},
    DEST: {"action": "answer", "ring_s": 0.3, "tone_hz": 1200, "echo": False, "hangup_after_s": 2.0},
}
# longest prefix decides: Alice's +1555000... is 0.6000 EUR, not 1555 or 1 (USD); DEST is 4479, not
# 44 (USD). A click-to-call's two legs are priced in one currency, the spend cap's.
DECK = """prefix,rate_per_min,currency
1,0.0090,USD
1555,0.0100,USD
1555000,0.6000,EUR
44,0.0150,USD
4479,0.1200,EUR
"""


@dataclass
class Env:
    stack: LocalStack
    base: Path
    deck: Path
    control_port: int
    tenant_id: str
    access: str


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = Path(tmp_path_factory.mktemp("pricing"))
    deck = base / "deck.csv"
    deck.write_text(DECK)
    control_port = free_port()
    overrides = {"edge_control_url": f"http://127.0.0.1:{control_port}", "edge_control_token": TOKEN}
    stack = LocalStack(base / "stack", settings_overrides=overrides)
    stack.host.env = {**(stack.host.env or {}), "RATES_SOURCE": str(deck)}  # read by rates_sync
    with stack:
        tenant_id, access = signup_verified(stack, "owner@pricing.example")
        with httpx.Client(
            base_url=stack.api, headers={"Authorization": f"Bearer {access}"}, timeout=10
        ) as api:
            me = next(u for u in api.get("/users").json()["items"] if u["email"] == "owner@pricing.example")
            api.patch(f"/users/{me['id']}", json={"forwarding_numbers": [ALICE_PHONE]}).raise_for_status()
            api.post(
                "/numbers", json={"number": NUMBER, "entry": {"type": "user", "id": me["id"]}}
            ).raise_for_status()
        yield Env(stack, base, deck, control_port, tenant_id, access)


def expected_cost(rate: str, leg: Leg) -> Decimal:
    assert leg.answered_at is not None and leg.ended_at is not None
    seconds = math.ceil((leg.ended_at - leg.answered_at).total_seconds())
    return (Decimal(rate) * seconds / 60).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def forwarded_call(env: Env, edge_address: str, edge_log: Path, edge_proc, tmp: Path) -> CallRecord:  # type: ignore[no-untyped-def]
    before = len(edge_events(edge_log, "call_ended"))
    result = run_caller(NUMBER, edge_address, tmp, tone=440, timeout=30)
    assert result.answered, result.log[-3000:]
    deadline = time.monotonic() + 15
    while len(ended := edge_events(edge_log, "call_ended")) <= before:
        assert time.monotonic() < deadline, edge_proc.log_tail()
        time.sleep(0.1)
    return wait_call_record(env.stack.settings, env.tenant_id, str(ended[-1]["call_id"]), edge_proc)


def test_edge_without_a_table_starts_and_leaves_legs_unpriced(env: Env, tmp_path: Path) -> None:
    sim = start_provider_sim(tmp_path / "sim", RULES)
    try:
        edge, sip_port, _ = start_edge(env.stack, sim, tmp_path)
        try:
            ready = edge_events(edge.log_path, "edge_ready")
            assert ready and ready[0]["rates_version"] is None
            rec = forwarded_call(env, f"127.0.0.1:{sip_port}", edge.log_path, edge, tmp_path)
        finally:
            edge.stop()
    finally:
        sim.stop()
    forward = [leg for leg in rec.legs if leg.kind == "forward"]
    assert forward and forward[0].outcome == "answered" and forward[0].price is None


def test_forwarded_and_click_to_call_legs_carry_their_price(env: Env, tmp_path: Path) -> None:
    run = run_and_wait(env.stack, "rates_sync")
    assert run["rates_outcome"] == "published" and run["done"] == 5, run
    version = current_pointer(env.stack)["version"]

    sim = start_provider_sim(tmp_path / "sim", RULES)
    try:
        edge, sip_port, _ = start_edge(
            env.stack, sim, tmp_path, EDGE_CONTROL_PORT=str(env.control_port), EDGE_CONTROL_TOKEN=TOKEN
        )
        try:
            ready = edge_events(edge.log_path, "edge_ready")
            assert ready and ready[0]["rates_version"] == version
            assert edge_events(edge.log_path, "rates_loaded")[0]["rows"] == 5

            # an inbound call forwarded to Alice's mobile: the forward leg is priced
            rec = forwarded_call(env, f"127.0.0.1:{sip_port}", edge.log_path, edge, tmp_path)
            assert rec.disposition == "answered"
            caller_leg = next(leg for leg in rec.legs if leg.kind == "caller")
            assert caller_leg.price is None  # the provider's leg to us is not ours to price
            forward = next(leg for leg in rec.legs if leg.kind == "forward")
            assert forward.destination == ALICE_PHONE and forward.outcome == "answered"
            talk = (forward.ended_at - forward.answered_at).total_seconds()  # type: ignore[operator]
            assert 2.0 < talk < 8.0, talk
            assert forward.price is not None
            assert (forward.price.rate_per_min, forward.price.currency) == (Decimal("0.6000"), "EUR")
            assert forward.price.cost == expected_cost("0.6000", forward) > 0

            # click-to-call: the user's leg and the destination's leg are both placed, both priced
            with httpx.Client(
                base_url=env.stack.api, headers={"Authorization": f"Bearer {env.access}"}, timeout=10
            ) as api:
                r = api.put("/outbound-policy", json={"allowed_countries": ["US", "GB"]})
                assert r.status_code == 200, r.text  # the tenant's home country is the US
                r = api.post("/calls", json={"destination": DEST})
                assert r.status_code == 202, r.text
            c2c = wait_call_record(env.stack.settings, env.tenant_id, r.json()["call_id"], edge, 30)
            user_leg = next(leg for leg in c2c.legs if leg.kind == "click_to_call")
            dest_leg = next(leg for leg in c2c.legs if leg.destination == DEST)
            assert user_leg.price is not None and dest_leg.price is not None, c2c.legs
            assert (user_leg.price.rate_per_min, user_leg.price.currency) == (Decimal("0.6000"), "EUR")
            assert user_leg.price.cost == expected_cost("0.6000", user_leg)
            assert (dest_leg.price.rate_per_min, dest_leg.price.currency) == (Decimal("0.1200"), "EUR")
            assert dest_leg.price.cost == expected_cost("0.1200", dest_leg) > 0
        finally:
            edge.stop()
    finally:
        sim.stop()
