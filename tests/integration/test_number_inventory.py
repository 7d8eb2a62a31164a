"""The number inventory end to end: the operator imports the carrier's CSV with `python -m ops`
(a real process against a real 3-node ConfigDB shard), tenants see and claim only free inventory
numbers of their region through the API, a released number sits in quarantine (an injected clock
moves past it), and the operator's tenant commands change tenants and leave audit records.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from infra.local.configdb_cluster import LocalCluster
from infra.local.managed import REPO
from shared.configdb import ConfigDBClient
from shared.configdb_keys import AUDIT_PREFIX, inventory_key, number_index_key, tenant_key

from .test_api_accounts import (
    API,
    PROBLEM,
    RecordingBus,
    SteppedClock,
    bearer,
    read_back,
    run,
    signup_and_login,
)

FREE = [f"+1555777000{i}" for i in range(5)]
ELSEWHERE = "+15557780000"


def ops(cluster: LocalCluster, *args: str, operator: str = "ada@noc") -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CONFIGDB_ENDPOINTS": ",".join(cluster.endpoints),
        "CONFIGDB_TOKEN": cluster.token,
        "OPS_OPERATOR": operator,
        "PBX_ENVIRONMENT": "local",
    }
    return subprocess.run(
        [sys.executable, "-m", "ops", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def refused(done: subprocess.CompletedProcess[str], *words: str) -> str:
    """A bad input: exit 2, one sentence on stderr naming the problem, no traceback."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    for word in words:
        assert word in done.stderr, done.stderr
    return done.stderr


def inventory_csv(tmp_path: Path) -> Path:
    path = tmp_path / "carrier.csv"
    rows = [f"{n},local,voice;sms" for n in FREE] + [f"{ELSEWHERE},weu,voice"]
    path.write_text("number,region,capabilities\n" + "\n".join(rows) + "\n")
    return path


def test_claims_come_from_the_inventory_and_released_numbers_wait(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    csv_file = inventory_csv(tmp_path)
    assert lines(ops(cluster, "numbers", "import", str(csv_file))) == [
        {"file": str(csv_file), "rows": 6, "added": 6, "updated": 0, "unchanged": 0}
    ]
    clock = SteppedClock()
    seen: dict[str, Any] = {}

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        a = await signup_and_login(client, bus, "owner@stock-a.test", "Stock A")
        b = await signup_and_login(client, bus, "owner@stock-b.test", "Stock B")
        ha, hb = bearer(a["access_token"]), bearer(b["access_token"])
        seen.update(a=a["tenant"]["id"], b=b["tenant"]["id"])

        r = await client.get(f"{API}/numbers/available", params={"prefix": "1555777", "limit": 3}, headers=ha)
        assert r.status_code == 200, r.text
        assert r.json()["items"] == [
            {"number": n, "region": "local", "capabilities": ["voice", "sms"]} for n in FREE[:3]
        ]
        r = await client.get(f"{API}/numbers/available", params={"prefix": "+1555778"}, headers=ha)
        assert r.json()["items"] == []  # another region's number is not offered
        r = await client.get(f"{API}/numbers/available", params={"prefix": "+1 555"}, headers=ha)
        assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
        r = await client.get(f"{API}/numbers/available", params={"limit": 1000}, headers=ha)
        assert r.status_code == 422

        # only inventory numbers of the tenant's region
        r = await client.post(f"{API}/numbers", json={"number": "+15550009999"}, headers=ha)
        assert r.status_code == 422 and r.json()["type"].endswith("/number-not-in-inventory"), r.text
        assert r.json()["errors"][0]["pointer"] == "/number"
        r = await client.post(f"{API}/numbers", json={"number": ELSEWHERE}, headers=ha)
        assert r.status_code == 422 and r.json()["type"].endswith("/number-in-another-region"), r.text

        r = await client.post(f"{API}/numbers", json={"number": FREE[0]}, headers=ha)
        assert r.status_code == 201, r.text
        stock = read_back(cluster, inventory_key(FREE[0]))
        assert stock["state"] == "assigned" and stock["tenant_id"] == a["tenant"]["id"]
        r = await client.get(f"{API}/numbers/available", params={"limit": 2}, headers=hb)
        assert [n["number"] for n in r.json()["items"]] == FREE[1:3]
        r = await client.post(f"{API}/numbers", json={"number": FREE[0]}, headers=hb)
        assert r.status_code == 409 and r.json()["type"].endswith("/conflict")
        assert a["tenant"]["id"] not in r.text

        # released: quarantined for 30 days, then free again
        assert (await client.delete(f"{API}/numbers/{FREE[0]}", headers=ha)).status_code == 204
        stock = read_back(cluster, inventory_key(FREE[0]))
        assert stock["state"] == "quarantined" and stock["tenant_id"] is None
        until = dt.datetime.fromisoformat(stock["quarantined_until"])
        assert abs(until - (clock.now() + dt.timedelta(days=30))) < dt.timedelta(minutes=1)
        for headers in (hb, ha):
            r = await client.post(f"{API}/numbers", json={"number": FREE[0]}, headers=headers)
            assert r.status_code == 409 and r.json()["type"].endswith("/number-quarantined"), r.text
        r = await client.get(f"{API}/numbers/available", params={"limit": 1}, headers=hb)
        assert [n["number"] for n in r.json()["items"]] == [FREE[1]]

        clock.offset = dt.timedelta(days=30, minutes=1)
        login = await client.post(
            f"{API}/auth/login", json={"email": "owner@stock-b.test", "password": "correct horse 1"}
        )
        hb = bearer(login.json()["access_token"])
        r = await client.get(f"{API}/numbers/available", params={"limit": 1}, headers=hb)
        assert [n["number"] for n in r.json()["items"]] == [FREE[0]]
        r = await client.post(f"{API}/numbers", json={"number": FREE[0]}, headers=hb)
        assert r.status_code == 201, r.text

    run(cluster, scenario, clock=clock)
    stock = read_back(cluster, inventory_key(FREE[0]))
    assert stock["state"] == "assigned" and stock["tenant_id"] == seen["b"]

    # a re-import adds nothing and leaves the assigned number assigned; a changed row is updated
    assert lines(ops(cluster, "numbers", "import", str(csv_file)))[0] == {
        "file": str(csv_file),
        "rows": 6,
        "added": 0,
        "updated": 0,
        "unchanged": 6,
    }
    more = tmp_path / "more.csv"
    more.write_text(f"number,region\n{FREE[0]},local\n+15557770009,local\n")
    assert lines(ops(cluster, "numbers", "import", str(more)))[0] == {
        "file": str(more),
        "rows": 2,
        "added": 1,
        "updated": 1,
        "unchanged": 0,
    }
    stock = read_back(cluster, inventory_key(FREE[0]))
    assert stock["state"] == "assigned" and stock["tenant_id"] == seen["b"] and stock["capabilities"] == []

    listed = lines(ops(cluster, "numbers", "list", "--state", "assigned"))
    assert [(n["number"], n["tenant_id"]) for n in listed] == [(FREE[0], seen["b"])]
    listed = lines(ops(cluster, "numbers", "list", "--region", "weu"))
    assert [n["number"] for n in listed] == [ELSEWHERE]
    listed = lines(ops(cluster, "numbers", "list", "--state", "free", "--prefix", "+1555777", "--limit", "2"))
    assert [n["number"] for n in listed] == FREE[1:3]


def test_ops_bad_input_is_a_sentence(cluster: LocalCluster, tmp_path: Path) -> None:
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("e164,area\n+15557770000,local\n")
    refused(ops(cluster, "numbers", "import", str(bad_header)), "line 1", "number,region")
    bad_number = tmp_path / "number.csv"
    bad_number.write_text("number,region\n+15557770000,local\n5557770001,local\n")
    refused(ops(cluster, "numbers", "import", str(bad_number)), "line 3", "'5557770001' is not an E.164")
    refused(ops(cluster, "numbers", "import", str(tmp_path / "missing.csv")), "cannot read")
    refused(ops(cluster, "tenants", "show", "01J9Z3K4M5N6P7Q8R9S0T1V2W3"), "no tenant")
    refused(ops(cluster, "tenants", "suspend", "not/an id"), "no tenant")
    refused(ops(cluster, "tenants", "extend-trial", "01J9Z3K4M5N6P7Q8R9S0T1V2W3", "soon"), "whole number")
    refused(ops(cluster, "numbers", "list", "--prefix", "abc"), "not a number prefix")
    # outside PBX_ENVIRONMENT=local the development admin token is refused before anything runs
    prod = subprocess.run(
        [sys.executable, "-m", "ops", "numbers", "list"],
        cwd=REPO,
        env={
            **os.environ,
            "CONFIGDB_ENDPOINTS": ",".join(cluster.endpoints),
            "PBX_ENVIRONMENT": "production",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert prod.returncode == 1 and "CONFIGDB_TOKEN" in prod.stderr and "Traceback" not in prod.stderr
    with ConfigDBClient(cluster.endpoints, cluster.token) as db:
        assert db.list("idx/inventory/").items == []  # nothing of the bad files was imported
        # a number a tenant claimed before the inventory existed is imported as assigned to it
        db.put(number_index_key("+15557770042"), "01J9Z3K4M5N6P7Q8R9S0T1V2W3")
    legacy = tmp_path / "legacy.csv"
    legacy.write_text("number,region\n+15557770041,local\n+15557770042,local\n")
    assert lines(ops(cluster, "numbers", "import", str(legacy)))[0]["added"] == 2
    listed = lines(ops(cluster, "numbers", "list"))
    assert [(n["number"], n["state"], n["tenant_id"]) for n in listed] == [
        ("+15557770041", "free", None),
        ("+15557770042", "assigned", "01J9Z3K4M5N6P7Q8R9S0T1V2W3"),
    ]


def test_ops_tenant_commands_and_audit(cluster: LocalCluster) -> None:
    seen: dict[str, Any] = {}

    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        a = await signup_and_login(client, bus, "owner@ops-a.test", "Ops A")
        seen["tid"] = a["tenant"]["id"]
        seen["trial_ends_at"] = a["tenant"]["trial_ends_at"]

    run(cluster, scenario)
    tid = seen["tid"]
    listed = lines(ops(cluster, "tenants", "list"))
    assert [(t["id"], t["name"], t["status"]) for t in listed] == [(tid, "Ops A", "trial")]
    assert lines(ops(cluster, "tenants", "list", "--status", "suspended")) == []
    shown = lines(ops(cluster, "tenants", "show", tid))[0]
    assert shown["tenant"]["id"] == tid and shown["numbers"] == [] and shown["users"] == 1

    suspended = lines(ops(cluster, "tenants", "suspend", tid))[0]
    assert suspended["status"] == "suspended" and suspended["status_changed_at"]
    assert read_back(cluster, tenant_key(tid))["status"] == "suspended"
    refused(ops(cluster, "tenants", "suspend", tid), "suspended")
    resumed = lines(ops(cluster, "tenants", "resume", tid))[0]
    assert resumed["status"] == "trial"  # the trial still runs: back in trial
    extended = lines(ops(cluster, "tenants", "extend-trial", tid, "14"))[0]
    before = dt.datetime.fromisoformat(seen["trial_ends_at"])
    assert dt.datetime.fromisoformat(extended["trial_ends_at"]) == before + dt.timedelta(days=14)
    assert read_back(cluster, tenant_key(tid))["trial_ends_at"] == extended["trial_ends_at"]

    with ConfigDBClient(cluster.endpoints, cluster.token) as db:
        records = [kv.value for kv in db.list(AUDIT_PREFIX).items]
    assert [(r["command"], r["outcome"]) for r in records] == [
        ("tenants list", "ok"),
        ("tenants list", "ok"),
        ("tenants show", "ok"),
        ("tenants suspend", "ok"),
        ("tenants suspend", "error"),
        ("tenants resume", "ok"),
        ("tenants extend-trial", "ok"),
    ]
    assert {r["operator"] for r in records} == {"ada@noc"}
    assert records[-1]["tenant_id"] == tid and records[-1]["args"] == {"tenant_id": tid, "days": 14}
    assert records[4]["error"] and "suspended" in records[4]["error"]
    assert all(r["at"].endswith("Z") for r in records)
