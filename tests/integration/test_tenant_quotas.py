"""Tenant quotas over HTTP against a real 3-node ConfigDB shard (the harness of
`test_api_accounts`, with small default quotas): users, menus, numbers, prompts and stored
prompt bytes are refused with 403 `quota-exceeded` past the limit, the operator's per-tenant
override raises it, and an oversize business-hours list is a 422."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import httpx

from functions.http_api.app import create_app
from infra.local.configdb_cluster import LocalCluster
from shared.directory.models.quota import QuotaKind

from .test_api_accounts import API, PROBLEM, RecordingBus, bearer, settings_for, signup_and_login

REPO = Path(__file__).resolve().parents[2]
NO_OVERRIDE = {k.value: None for k in QuotaKind}


def ops(cluster: LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CONFIGDB_ENDPOINTS": ",".join(cluster.endpoints),
        "CONFIGDB_TOKEN": cluster.token,
        "OPS_OPERATOR": "ada@noc",
    }
    return subprocess.run(
        [sys.executable, "-m", "ops", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def tone_wav(seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x10" * int(8000 * seconds))
    return out.getvalue()


def quota_problem(r: httpx.Response, quota: str, limit: int, used: int) -> None:
    assert r.status_code == 403, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["type"].endswith("/quota-exceeded"), body
    assert (body["quota"], body["limit"], body["used"]) == (quota, limit, used), body
    assert f"at most {limit}" in body["detail"]


def menu(name: str) -> dict[str, Any]:
    return {"name": name, "greeting": {"text": "Hello"}, "options": []}


def test_quotas_refuse_past_the_limit_and_the_operator_override_raises_it(cluster: LocalCluster) -> None:
    cluster.wait_healthy()
    settings = settings_for(cluster).model_copy(
        update={
            "quota_users": 2,
            "quota_menus": 1,
            "quota_numbers": 0,
            "quota_prompts": 5,
            "quota_media_bytes": 20_000,
        }
    )
    bus = RecordingBus()
    app = create_app(settings, bus=bus)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            owner = await signup_and_login(client, bus, "owner@quotas.test")
            auth = bearer(owner["access_token"])
            tid = owner["tenant"]["id"]

            r = await client.post(
                f"{API}/users", headers=auth, json={"name": "Ann", "email": "ann@quotas.test"}
            )
            assert r.status_code == 201, r.text  # the owner and Ann: 2 of 2
            r = await client.post(
                f"{API}/users", headers=auth, json={"name": "Bob", "email": "bob@quotas.test"}
            )
            quota_problem(r, "users", 2, 2)

            assert (await client.post(f"{API}/ivr-menus", headers=auth, json=menu("Main"))).status_code == 201
            quota_problem(
                await client.post(f"{API}/ivr-menus", headers=auth, json=menu("Second")), "menus", 1, 1
            )

            r = await client.post(f"{API}/numbers", headers=auth, json={"number": "+15550009001"})
            quota_problem(r, "numbers", 0, 0)

            big = tone_wav(2.0)  # 32 KB, over the 20,000-byte media quota: refused before it is stored
            r = await client.post(f"{API}/prompts", headers=auth, files={"file": ("g.wav", big, "audio/wav")})
            assert r.status_code == 403 and r.json()["quota"] == "media_bytes", r.text
            assert r.json()["limit"] == 20_000 and r.json()["requested"] == len(big)

            # The operator raises this tenant's menu quota.
            done = await asyncio.to_thread(ops, cluster, "tenants", "set-quota", tid, "menus", "3")
            assert done.returncode == 0, done.stderr
            assert json.loads(done.stdout) == {"id": tid, "quotas": {**NO_OVERRIDE, "menus": 3}}
            assert (
                await client.post(f"{API}/ivr-menus", headers=auth, json=menu("Second"))
            ).status_code == 201
            r = await client.post(
                f"{API}/users", headers=auth, json={"name": "Bob", "email": "bob@quotas.test"}
            )
            quota_problem(r, "users", 2, 2)  # the other quotas keep their defaults

            # Lists in tenant configuration are bounded: 13 ranges a day is a 422 with its pointer.
            hours = {"mon": [f"{h:02d}:00-{h:02d}:30" for h in range(13)]}
            r = await client.patch(f"{API}/tenant", headers=auth, json={"business_hours": hours})
            assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
            assert r.json()["errors"][0]["pointer"] == "/business_hours/mon", r.json()
            tenant = (await client.get(f"{API}/tenant", headers=auth)).json()
            assert "quotas" not in tenant  # operator-only: not part of the tenant's view

            # Back to the default: the second menu already exists, so a third is refused.
            done = await asyncio.to_thread(ops, cluster, "tenants", "set-quota", tid, "menus", "default")
            assert done.returncode == 0 and json.loads(done.stdout) == {"id": tid, "quotas": {}}, done.stderr
            quota_problem(
                await client.post(f"{API}/ivr-menus", headers=auth, json=menu("Third")), "menus", 1, 2
            )
            bad = await asyncio.to_thread(ops, cluster, "tenants", "set-quota", tid, "menus", "lots")
            assert bad.returncode == 2 and "'lots' is not a whole number" in bad.stderr, bad.stderr
            assert "Traceback" not in bad.stderr
        await app.state.ctx.aclose()

    asyncio.run(main())
