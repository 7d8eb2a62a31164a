"""The tenants cleaner on the real stack (LocalStack; run through `POST /admin/functions/tenant_cleaner`):
a suspended tenant past the 30-day retention loses its ConfigDB keys and global indexes, its
History documents and its blobs; a crash midway is resumed at the recorded step; tenants still
within retention, or open, are left alone.

The crash is a real fault, not a hook: the test holds an infinite Azure lease on one of the
tenant's blobs, so Blob storage refuses to delete it (412 LeaseIdMissing) and the `blobs` step
fails after `config` and `history` are done. Breaking the lease lets the next run finish."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, signup_verified
from shared.adapters.blob_media import BlobMedia
from shared.adapters.history import open_history_store
from shared.configdb import ConfigDBClient
from shared.configdb_keys import (
    email_index_key,
    inventory_key,
    number_index_key,
    tenant_index_key,
    tenant_key,
    tenant_prefix,
)
from shared.lifecycle.services.tenant_cleaner import cleanup_key
from shared.values import format_utc
from tests.integration.notify_helpers import edge_call, runs, wait_until, write_history
from tests.inventory import stock

pytestmark = [
    pytest.mark.skipif(not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"),
    pytest.mark.timeout(300),
]

CONTAINERS = ("prompts", "voicemail", "recordings", "reports")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(Path(tmp_path_factory.mktemp("cleaner"))) as s:
        yield s


@pytest.fixture(scope="module")
def db(stack: LocalStack) -> Iterator[ConfigDBClient]:
    with ConfigDBClient(stack.cluster.endpoints, stack.cluster.token) as client:
        yield client


def edit(db: ConfigDBClient, key: str, **changes: Any) -> None:
    kv = db.get(key)
    db.put(key, {**kv.value, **changes}, prev_revision=kv.revision)


def run_now(stack: LocalStack) -> dict[str, Any]:
    before = len(runs(stack, "tenant_cleaner"))
    r = httpx.post(f"http://127.0.0.1:{stack.api_port}/admin/functions/tenant_cleaner", json={}, timeout=10)
    assert r.status_code == 202, r.text
    return wait_until(lambda: runs(stack, "tenant_cleaner")[before:], timeout=60, what="cleaner run")[0]


def steps(stack: LocalStack, run_id: str) -> list[dict[str, Any]]:
    out = []
    for line in stack.host.log_path.read_text(errors="replace").splitlines():
        if '"cleanup_step"' in line and run_id in line:
            out.append(json.loads(line[line.index("{") :]))
    return out


def populate(stack: LocalStack, email: str, number: str) -> tuple[str, str]:
    """A tenant with a number, a user, call history and a blob in every container."""
    tid, access = signup_verified(stack, email, company=f"Co {email}")
    stock(stack.cluster.endpoints, stack.cluster.token, [number])
    with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {access}"}, timeout=10) as api:
        assert api.post("/numbers", json={"number": number}).status_code == 201
        uid = next(u["id"] for u in api.get("/users").json()["items"] if u["email"] == email)
    call_id = str(uuid.uuid4())
    write_history(stack, edge_call(tid, uid, call_id, disposition="voicemail"), None)

    async def upload() -> None:
        media = BlobMedia(stack.azurite.connection_string)
        try:
            for container in CONTAINERS:
                for i in range(2):
                    await media.upload(
                        container, f"{tid}/{uid}/{i}.bin", b"x" * 100, "application/octet-stream"
                    )
        finally:
            await media.aclose()

    asyncio.run(upload())
    return tid, uid


def blob_names(stack: LocalStack, tid: str) -> list[str]:
    svc = BlobServiceClient.from_connection_string(stack.azurite.connection_string)
    try:
        return [
            f"{c}/{b.name}"
            for c in CONTAINERS
            for b in svc.get_container_client(c).list_blobs(name_starts_with=f"{tid}/")
        ]
    finally:
        svc.close()


def history_count(stack: LocalStack, tid: str) -> int:
    store = open_history_store(stack.settings)
    try:
        return len(store.list_calls(tid, limit=100).items)
    finally:
        store.close()


def config_keys(db: ConfigDBClient, tid: str) -> list[str]:
    return [kv.key for kv in db.list(tenant_prefix(tid)).items]


def test_suspended_tenant_past_retention_is_cleaned_resuming_after_a_crash(
    stack: LocalStack, db: ConfigDBClient
) -> None:
    old_email, old_number = "old@cleaner.example", "+15550007001"
    old, old_uid = populate(stack, old_email, old_number)
    recent, _ = populate(stack, "recent@cleaner.example", "+15550007002")
    active, _ = populate(stack, "active@cleaner.example", "+15550007003")
    now = dt.datetime.now(dt.UTC)
    edit(db, tenant_key(old), status="suspended", status_changed_at=format_utc(now - dt.timedelta(days=31)))
    edit(
        db, tenant_key(recent), status="cancelled", status_changed_at=format_utc(now - dt.timedelta(days=10))
    )
    assert history_count(stack, old) == 1 and len(blob_names(stack, old)) == 8

    # the crash: Blob storage refuses to delete one leased blob
    svc = BlobServiceClient.from_connection_string(stack.azurite.connection_string)
    leased = svc.get_blob_client("voicemail", f"{old}/{old_uid}/1.bin")
    lease = leased.acquire_lease(-1)
    try:
        first = run_now(stack)
        assert first["failed"] == 1 and first["notes"].get("step_blobs") == 1, first
        assert first["notes"].get("retained") == 1, first
        logged = [(s["step"], s["outcome"]) for s in steps(stack, first["run_id"]) if s["tenant_id"] == old]
        assert logged == [("config", "claimed"), ("config", "ok"), ("history", "ok"), ("blobs", "failed")]

        # config and history are gone already; progress is recorded at the failed step
        assert config_keys(db, old) == []
        assert db.get_or_none(number_index_key(old_number)) is None
        released = db.get(inventory_key(old_number)).value  # quarantined, as after a release
        assert released["state"] == "quarantined" and released["tenant_id"] is None
        until = dt.datetime.fromisoformat(released["quarantined_until"])
        assert dt.timedelta(days=29) < until - now < dt.timedelta(days=31)
        assert db.get(inventory_key("+15550007002")).value["tenant_id"] == recent
        assert db.get_or_none(email_index_key(old_email)) is None
        assert history_count(stack, old) == 0
        progress = db.get(cleanup_key(old)).value
        assert progress["step"] == "blobs" and progress["lease_until"] is None and progress["last_error"]
        assert db.get_or_none(tenant_index_key(old)) is not None
        assert f"voicemail/{old}/{old_uid}/1.bin" in blob_names(stack, old)
    finally:
        lease.break_lease(lease_break_period=0)
        svc.close()

    second = run_now(stack)
    assert second["failed"] == 0 and second["notes"].get("resumed") == 1, second
    logged = [(s["step"], s["outcome"]) for s in steps(stack, second["run_id"]) if s["tenant_id"] == old]
    assert logged == [("blobs", "resumed"), ("blobs", "ok"), ("finish", "ok")]
    assert blob_names(stack, old) == []
    assert db.get_or_none(tenant_index_key(old)) is None
    done = db.get(cleanup_key(old)).value
    assert done["step"] == "done" and done["finished_at"] and done["deleted"]["config.keys"] >= 3

    # the others are untouched
    for tid in (recent, active):
        assert db.get_or_none(tenant_key(tid)) is not None
        assert db.get_or_none(tenant_index_key(tid)) is not None
        assert history_count(stack, tid) == 1 and len(blob_names(stack, tid)) == 8
    assert db.get(number_index_key("+15550007002")).value == recent

    # a third run has nothing to do for the cleaned tenant
    third = run_now(stack)
    assert third["failed"] == 0 and third["done"] == 0, third
    assert [s for s in steps(stack, third["run_id"]) if s["tenant_id"] == old] == []


def test_closed_tenant_without_timestamp_starts_its_retention(stack: LocalStack, db: ConfigDBClient) -> None:
    tid, _ = signup_verified(stack, "legacy@cleaner.example", company="Legacy Co")
    kv = db.get(tenant_key(tid))
    doc = {k: v for k, v in kv.value.items() if k != "status_changed_at"}
    db.put(tenant_key(tid), {**doc, "status": "cancelled"}, prev_revision=kv.revision)
    run = run_now(stack)
    assert run["notes"].get("retention_started", 0) >= 1, run
    stamped = db.get(tenant_key(tid)).value
    assert stamped["status"] == "cancelled" and stamped["status_changed_at"] is not None
    assert db.get_or_none(cleanup_key(tid)) is None
