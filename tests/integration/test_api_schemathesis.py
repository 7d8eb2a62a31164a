"""Schemathesis against the real running API: the functions host (function_app:app) of a
LocalStack (Azurite, a 3-node ConfigDB shard, the SMTP catcher), over HTTP.

The schema is read from the host's `/api/openapi.json`. Every operation gets a bounded,
derandomized set of generated requests, valid ones and invalid ones, sent with the bearer token
of a signed-up and verified tenant owner, so the tenant routes run their real code instead of
stopping at 401. Operations with ids in their path get a third pass whose ids are those of real
resources of that tenant (a user, a menu, a number, a prompt, a device), so updates and reads
reach stored documents. DELETE operations run last.

Two checks: no 5xx (`not_a_server_error`) and every response matches the schema
(`response_schema_conformance`; error bodies are documented as application/problem+json).
All failures are collected and reported together, with a curl command to replay each.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from infra.local.azurite import AZURITE_BIN
from infra.local.configdb_cluster import free_port
from infra.local.stack import LocalStack, signup_verified
from tests.sip_fixtures import start_edge, start_provider_sim

pytestmark = [
    pytest.mark.skipif(not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"),
    # every operation, three passes of 10 requests: minutes on a loaded 2-core machine
    pytest.mark.timeout(900),
]

# Per operation and pass; derandomized, so every run sends the same requests.
MAX_EXAMPLES = 10
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    base = Path(tmp_path_factory.mktemp("stack"))
    control_port = free_port()  # a real SIP edge behind /calls (click-to-call, live calls)
    overrides = {"edge_control_url": f"http://127.0.0.1:{control_port}"}
    with LocalStack(base, settings_overrides=overrides) as s:
        sim = start_provider_sim(base / "sim")
        try:
            token = s.settings.edge_control_token.get_secret_value()
            port = str(control_port)
            edge, _, _ = start_edge(s, sim, base, EDGE_CONTROL_PORT=port, EDGE_CONTROL_TOKEN=token)
            try:
                yield s
            finally:
                edge.stop()
        finally:
            sim.stop()


@dataclass
class Tally:
    operations: int = 0
    cases: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.operations} operations, {self.cases} requests, statuses {sorted(self.statuses.items())}"
        )


def silent_wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return out.getvalue()


def seed_tenant(api: httpx.Client, auth: dict[str, str]) -> dict[str, str]:
    """Real resources of the tenant, by the path parameter names the schema uses."""
    user = api.post(
        "/users",
        headers=auth,
        json={"name": "Mia Member", "email": "mia@schemathesis.example", "extension": "301"},
    )
    assert user.status_code == 201, user.text
    menu = api.post(
        "/ivr-menus",
        headers=auth,
        json={
            "name": "Main",
            "greeting": {"text": "Welcome"},
            "options": [{"digit": "1", "action": {"type": "transfer_user", "user_id": user.json()["id"]}}],
        },
    )
    assert menu.status_code == 201, menu.text
    number = api.post(
        "/numbers",
        headers=auth,
        json={"number": "+15557770001", "entry": {"type": "menu", "id": menu.json()["id"]}},
    )
    assert number.status_code == 201, number.text
    prompt = api.post("/prompts", headers=auth, files={"file": ("hello.wav", silent_wav(), "audio/wav")})
    assert prompt.status_code == 202, prompt.text
    device = api.post("/devices", headers=auth, json={"platform": "apns", "token": "a" * 64})
    assert device.status_code == 201, device.text
    return {
        "user_id": user.json()["id"],
        "menu_id": menu.json()["id"],
        "e164": number.json()["number"],
        "prompt_id": prompt.json()["id"],
        "device_id": device.json()["id"],
    }


def fuzz(
    operation: Any,
    mode: GenerationMode,
    base_url: str,
    auth: dict[str, str],
    tally: Tally,
    path_parameters: dict[str, str] | None = None,
) -> None:
    session = requests.Session()
    seen: set[str] = set()
    label = f"{operation.label} [{mode.value}{', real ids' if path_parameters else ''}]"

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: failures are collected, not raised
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case: Any) -> None:
        response = case.call(base_url=base_url, session=session, headers=auth, timeout=30)
        tally.cases += 1
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as group:
            for failure in group.exceptions:
                key = f"{label} {response.status_code}: {failure.title}"
                if key not in seen:
                    seen.add(key)
                    tally.failures.append(
                        f"{key}\n    {case.as_curl_command(headers=auth)}\n    {failure.message[:2000]}"
                    )

    try:
        run()
    except Unsatisfiable:  # nothing to break: an operation with no parameters and no body
        assert mode is GenerationMode.NEGATIVE, label
    finally:
        session.close()


def test_schemathesis_finds_no_server_error_and_no_schema_break(stack: LocalStack) -> None:
    _, token = signup_verified(stack, "owner@schemathesis.example", company="Schemathesis Ltd")
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=stack.api, timeout=30) as api:
        ids = seed_tenant(api, auth)
    base_url = f"http://127.0.0.1:{stack.api_port}"
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json", timeout=30)

    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # stable: deletes last
    tally = Tally()
    for operation in operations:
        tally.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode, base_url, auth, tally)
        names = {p.name for p in operation.path_parameters}
        if names and names <= ids.keys():
            fixed = {name: ids[name] for name in names}
            fuzz(operation, GenerationMode.POSITIVE, base_url, auth, tally, path_parameters=fixed)

    print(tally.summary())
    assert tally.operations >= 30, tally.summary()
    # authenticated for real: tenant routes answered 2xx, not only 401
    assert sum(n for status, n in tally.statuses.items() if 200 <= status < 300) >= 50, tally.summary()
    assert not tally.failures, tally.summary() + "\n" + "\n\n".join(tally.failures)
