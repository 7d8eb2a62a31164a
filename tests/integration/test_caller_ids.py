"""Bring-your-own caller ID, verified by a call that reads out a code, with real processes.

The platform (LocalStack), the SIP edge and the provider stand-in: `POST /api/v1/caller-ids` makes
the functions ask the edge's control API to call the number; the stand-in answers and records
what it heard, and the test reads the code back from that audio (the edge keys each spoken digit
as a DTMF tone pair; `dtmf_digits` finds them). The code typed into `/verify` makes the number a
caller ID that click-to-call may show (the destination's INVITE carries it); an unverified number
is refused. The rules for codes (expiry, attempts, one call a minute) are driven on a stepped
clock through the service over a real ConfigDB shard in `test_code_expires_and_attempts_run_out`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from infra.local.configdb_cluster import LocalCluster, free_port
from infra.local.managed import ManagedProcess
from infra.local.stack import LocalStack, signup_verified
from shared.adapters.config_repo import ConfigRepo
from shared.calls.errors import (
    CountryNotAllowed,
    PremiumRateRefused,
    VerificationCodeExpired,
    VerificationCodeWrong,
)
from shared.calls.models import ActiveCall, CallerIdStatus
from shared.calls.services.caller_ids import CallerIdsService
from shared.configdb import AsyncConfigDBClient
from shared.configdb_keys import tenant_key
from shared.directory.models.tenant import Tenant
from shared.errors import Throttled
from shared.security.tokens import Principal
from sip_edge.media import dsp
from sip_edge.media.system_prompts import DTMF, DTMF_COLS, DTMF_ROWS
from tests.integration.test_reports_rates_quality import run_and_wait
from tests.sip_fixtures import SimProcess, start_edge, start_provider_sim

pytestmark = pytest.mark.timeout(300)

TOKEN = "caller-id-edge-token"
OWN_NUMBER = "+15557770500"  # the tenant's number, from the demo inventory
OWNER_PHONE = "+15550004001"  # the owner's mobile: answers click-to-calls
BYO = "+15550004002"  # the number brought as caller ID: answers and records the code call
DEST = "+15550004003"  # a click-to-call destination
PREMIUM = "+19005551234"  # US premium rate
ABROAD = "+442079460958"  # outside the home country (US, from the locale en-US)
KEY = {pair: key for key, pair in DTMF.items()}


def dtmf_digits(pcm: bytes, rate: int, block_ms: int = 40) -> str:
    """The DTMF keys in `pcm`: blocks whose two strongest tones are one row and one column
    frequency, each key counted once it holds for 3 half-overlapping blocks."""

    def near(f: float, table: tuple[float, ...]) -> float | None:
        return next((t for t in table if abs(f - t) <= 25.0), None)

    n = rate * block_ms // 1000 * 2
    keys: list[str | None] = []
    for i in range(0, len(pcm) - n + 1, n // 2):
        block = pcm[i : i + n]
        found = dsp.strongest_frequencies(block, rate, 2, rel_db=-6.0) if dsp.dbfs(block) > -40 else []
        rows = {r for f in found if (r := near(f, DTMF_ROWS)) is not None}
        cols = {c for f in found if (c := near(f, DTMF_COLS)) is not None}
        keys.append(
            KEY.get((rows.pop(), cols.pop())) if len(found) == 2 and len(rows) == len(cols) == 1 else None
        )
    out, run = [], 0
    for j, k in enumerate(keys):
        run = run + 1 if j and k is not None and keys[j - 1] == k else (1 if k is not None else 0)
        if run == 3 and k is not None:
            out.append(k)
    return "".join(out)


@dataclass
class Platform:
    stack: LocalStack
    sim: SimProcess
    edge: ManagedProcess
    recordings: Path
    owner: str
    member: str

    def api(self, access: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.api, headers={"Authorization": f"Bearer {access}"}, timeout=15
        )


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    base = tmp_path_factory.mktemp("callerid")
    control_port = free_port()
    overrides = {"edge_control_url": f"http://127.0.0.1:{control_port}", "edge_control_token": TOKEN}
    recordings = base / "recordings"
    rules = {
        OWNER_PHONE: {"action": "answer", "ring_s": 0.3, "tone_hz": 700.0, "echo": False},
        BYO: {"action": "answer", "ring_s": 0.5, "echo": False, "record_to": str(recordings)},
        DEST: {"action": "answer", "ring_s": 0.3, "tone_hz": 1200.0, "echo": False},
    }
    with LocalStack(base / "stack", settings_overrides=overrides) as stack:
        _, owner = signup_verified(stack, "owner@callerid.example")
        with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {owner}"}) as api:
            me = next(u for u in api.get("/users").json()["items"] if u["email"] == "owner@callerid.example")
            api.patch(f"/users/{me['id']}", json={"forwarding_numbers": [OWNER_PHONE]}).raise_for_status()
            api.post("/numbers", json={"number": OWN_NUMBER}).raise_for_status()
            body = {"name": "Mo", "email": "mo@callerid.example", "password": "member password 123"}
            api.post("/users", json=body).raise_for_status()
        login = httpx.post(
            f"{stack.api}/auth/login", json={"email": body["email"], "password": body["password"]}
        )
        member = login.json()["access_token"]
        assert run_and_wait(stack, "rates_sync")["rates_outcome"] == "published"
        sim = start_provider_sim(base / "sim", rules)
        try:
            edge, _, _ = start_edge(
                stack, sim, base, EDGE_CONTROL_PORT=str(control_port), EDGE_CONTROL_TOKEN=TOKEN
            )
            try:
                yield Platform(stack, sim, edge, recordings, owner, member)
            finally:
                edge.stop()
        finally:
            sim.stop()


def test_a_call_reads_out_the_code_and_only_verified_numbers_are_shown(platform: Platform) -> None:
    p = platform
    with p.api(p.owner) as api:
        # not verified yet: click-to-call may not show it (and nothing is dialled)
        r = api.post("/calls", json={"destination": DEST, "caller_id": BYO})
        assert r.status_code == 422 and r.json()["type"].endswith("/caller-id-not-verified"), r.text
        assert r.json()["errors"][0]["pointer"] == "/caller_id"
        r = api.post("/caller-ids", json={"number": OWN_NUMBER})
        assert r.status_code == 409 and r.json()["type"].endswith("/caller-id-exists"), r.text
    with p.api(p.member) as api:
        assert api.post("/caller-ids", json={"number": BYO}).status_code == 403

    with p.api(p.owner) as api:
        r = api.post("/caller-ids", json={"number": BYO})
        assert r.status_code == 202, r.text
        started = r.json()
        assert started["status"] == "pending" and started["attempts_left"] == 5
        assert r.headers["location"] == f"/api/v1/caller-ids/{started['id']}"
        again = api.post("/caller-ids", json={"number": BYO})
        assert again.status_code == 429 and int(again.headers["retry-after"]) >= 1, again.text

    # the network's side: the edge called BYO, showing the tenant's number, and read the code out
    incoming = p.sim.wait_event("incoming", timeout=20, number=BYO)
    assert OWN_NUMBER in str(incoming.get("caller")), incoming
    ended = p.sim.wait_event("hangup", timeout=60, number=BYO)
    assert ended["by"] == "remote" and ended["recording"], ended
    pcm, rate = dsp.read_wav(Path(ended["recording"]).read_bytes())
    heard = dtmf_digits(pcm, rate)
    assert len(heard) == 12 and heard[:6] == heard[6:], heard  # the code, twice
    code = heard[:6]
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    with p.api(p.owner) as api:
        r = api.post(f"/caller-ids/{started['id']}/verify", json={"code": wrong})
        assert r.status_code == 422 and r.json()["type"].endswith("/verification-code-wrong"), r.text
        assert r.json()["attempts_left"] == 4
        r = api.post(f"/caller-ids/{started['id']}/verify", json={"code": code})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "verified" and r.json()["verified_at"]
        assert [(c["number"], c["status"]) for c in api.get("/caller-ids").json()["items"]] == [
            (BYO, "verified")
        ]

        # verified: the destination of a click-to-call sees it
        r = api.post("/calls", json={"destination": DEST, "caller_id": BYO})
        assert r.status_code == 202, r.text
        call_id = r.json()["call_id"]
        dest = p.sim.wait_event("incoming", timeout=30, number=DEST)
        assert BYO in str(dest.get("caller")), dest
        assert api.delete(f"/calls/active/{call_id}").status_code in (204, 404)
    with p.api(p.member) as api:  # members see caller IDs and may show them, not manage them
        assert api.get("/caller-ids").json()["items"][0]["status"] == "verified"
        assert api.delete(f"/caller-ids/{started['id']}").status_code == 403


class SteppedClock:
    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


class RecordingEdge:
    """The EdgeCallControl port, keeping the codes it was asked to call out."""

    def __init__(self) -> None:
        self.codes: list[tuple[str, str, str | None]] = []

    async def code_call(self, tenant_id: str, number: str, code: str, caller_id: str | None) -> ActiveCall:
        self.codes.append((number, code, caller_id))
        return ActiveCall(
            call_id=f"c{len(self.codes)}",
            tenant_id=tenant_id,
            direction="caller_id_check",
            state="dialing",
            started_at="x",
        )


def test_code_expires_and_attempts_run_out(cluster: LocalCluster) -> None:
    clock, edge = SteppedClock(), RecordingEdge()
    owner = Principal(
        tenant_id="01J9Z3K4M5N6P7Q8R9S0T1V2W3", user_id="01J9Z3K4M5N6P7Q8R9S0T1V2W4", role="owner"
    )

    async def scenario() -> None:
        async with AsyncConfigDBClient(cluster.endpoints, cluster.token) as db:
            repo = ConfigRepo(db)
            svc = CallerIdsService(repo, edge, clock)  # type: ignore[arg-type]
            tenant = Tenant(
                id=owner.tenant_id, name="Codes", created_at=clock.now(), region="local", status="active"
            )
            await repo.create(tenant_key(owner.tenant_id), tenant)
            # never a number the tenant's calls may not ring: nothing is called
            for refused, why in ((PREMIUM, PremiumRateRefused), (ABROAD, CountryNotAllowed)):
                with pytest.raises(why):
                    await svc.start(owner, refused)
            assert edge.codes == []
            first = await svc.start(owner, BYO)
            _, code, presented = edge.codes[-1]
            assert presented is None  # the tenant has no number: nothing to show
            for left in (4, 3, 2, 1, 0):
                with pytest.raises(VerificationCodeWrong) as wrong:
                    await svc.verify(owner, first.id, f"{(int(code) + 1) % 10**6:06d}")
                assert wrong.value.details["attempts_left"] == left
            with pytest.raises(VerificationCodeExpired):  # tries used up, even with the right code
                await svc.verify(owner, first.id, code)
            with pytest.raises(Throttled):
                await svc.start(owner, BYO)
            clock.offset += dt.timedelta(seconds=61)
            await svc.start(owner, BYO)  # a new code, a new call
            _, code2, _ = edge.codes[-1]
            clock.offset += dt.timedelta(minutes=10, seconds=1)
            with pytest.raises(VerificationCodeExpired):
                await svc.verify(owner, first.id, code2)
            clock.offset += dt.timedelta(seconds=61)
            await svc.start(owner, BYO)
            _, code3, _ = edge.codes[-1]
            done = await svc.verify(owner, first.id, code3)
            assert done.status is CallerIdStatus.VERIFIED and done.code_digest is None
            assert await svc.allowed(owner.tenant_id) == {BYO}
            assert len(edge.codes) == 3

    asyncio.run(scenario())


def test_dtmf_reader_reads_the_announcement() -> None:
    from sip_edge.media.system_prompts import code_announcement

    for code in ("000000", "907143", "123456"):
        assert dtmf_digits(code_announcement(code), 8000) == code * 2
