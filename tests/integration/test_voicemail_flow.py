"""The new-voicemail blob trigger against the real stack (Azurite, 3 ConfigDB nodes, SMTP
catcher, functions host): a WAV uploaded to `voicemail/{tenant}/{user}/{id}.wav` the way the SIP
edge does it, the call record and activity written to the History DB the way the edge does it,
then the activity is refreshed, the owner's email arrives with the WAV attached, and the push and
SMS are recorded; a dead push token is removed from the ConfigDB; a deleted tenant and a missing
blob are counted outcomes."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, mail_text, signup_verified
from shared.adapters.blob_media import BlobMedia
from shared.adapters.config_repo import ConfigRepo
from shared.adapters.history import open_history_store
from shared.adapters.history.aio import AsyncHistoryStore
from shared.adapters.storage_queue_bus import StorageQueueBus
from shared.configdb import AsyncConfigDBClient, ConfigDBClient
from shared.configdb_keys import tenant_key, tenant_prefix
from shared.directory.models.tenant import Tenant
from shared.history.services.voicemail import Outcome, VoicemailEvents
from shared.notifications.services.notify import voicemail_activity
from shared.notifications.services.recipients import Recipients
from shared.ports import SystemClock
from shared.values import new_ulid
from tests.integration.notify_helpers import (
    admin_run,
    edge_call,
    get_activity,
    push_records,
    runs,
    sms_records,
    tone_wav,
    wait_drained,
    wait_until,
    write_history,
)

pytestmark = [
    pytest.mark.skipif(not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"),
    pytest.mark.timeout(300),
]

OWNER_EMAIL = "owner@voicemail-flow.example"
MOBILE = "+15551230001"


@dataclass
class Box:
    stack: LocalStack
    tenant_id: str
    user_id: str
    access: str
    live_device: str
    dead_device: str

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.api, headers={"Authorization": f"Bearer {self.access}"}, timeout=10
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(Path(tmp_path_factory.mktemp("vmstack"))) as s:
        yield s


@pytest.fixture(scope="module")
def box(stack: LocalStack) -> Box:
    """The signed-up owner: SMS, email and push on voicemail; one live and one dead device."""
    tenant_id, access = signup_verified(stack, OWNER_EMAIL)
    with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {access}"}, timeout=10) as api:
        owner = next(u for u in api.get("/users").json()["items"] if u["email"] == OWNER_EMAIL)
        notify = {**owner["notify"], "email_on_voicemail": True, "sms_on_voicemail": True}
        r = api.patch(f"/users/{owner['id']}", json={"forwarding_numbers": [MOBILE], "notify": notify})
        assert r.status_code == 200, r.text
        live = api.post("/devices", json={"platform": "fcm", "token": "live-fcm-token-0001"})
        dead = api.post("/devices", json={"platform": "apns", "token": "dead-apns-token-0001"})
        assert live.status_code == 201 and dead.status_code == 201, (live.text, dead.text)
    return Box(stack, tenant_id, owner["id"], access, live.json()["id"], dead.json()["id"])


def upload(stack: LocalStack, name: str, data: bytes) -> None:
    async def go() -> None:
        media = BlobMedia(stack.azurite.connection_string)
        try:
            await media.upload("voicemail", name, data, "audio/wav")
        finally:
            await media.aclose()

    asyncio.run(go())


def attachments(msg: Message) -> list[tuple[str, str, bytes]]:
    out = []
    for part in msg.walk():
        if part.get_filename():
            out.append((part.get_filename(), part.get_content_type(), part.get_payload(decode=True)))
    return out


def test_new_voicemail_refreshes_activity_emails_wav_pushes_and_texts(box: Box) -> None:
    stack = box.stack
    wav = tone_wav(2.0)
    call_id = str(uuid.uuid4())
    name = f"{box.tenant_id}/{box.user_id}/{new_ulid(dt.datetime.now(dt.UTC))}.wav"
    # The edge uploads the WAV first; the call record and the activity follow when the call ends.
    upload(stack, name, wav)
    # The scenario: the record lands a while after the blob, and the trigger waits for it.
    time.sleep(1.5)
    record = edge_call(
        box.tenant_id, box.user_id, call_id, disposition="voicemail", voicemail_blob=f"voicemail/{name}"
    )
    edge_item = voicemail_activity(record, box.user_id, None)  # written before the duration was known
    write_history(stack, record, edge_item)

    def voicemail_mail() -> Message | None:
        for path in sorted(stack.mail_dir.glob("*.eml")):
            msg = message_from_bytes(path.read_bytes())
            if msg["To"] == OWNER_EMAIL and msg["X-CloudPBX-Kind"] == "voicemail":
                return msg
        return None

    msg = wait_until(voicemail_mail, timeout=45, what="the voicemail email")
    assert msg["Subject"] == "New voicemail from +15559870001"
    assert "left you a voicemail (2 s)" in mail_text(msg)
    files = attachments(msg)
    assert len(files) == 1
    filename, content_type, data = files[0]
    assert content_type == "audio/wav" and filename.endswith(".wav") and data == wav

    item = get_activity(stack, box.tenant_id, box.user_id, f"voicemail:{call_id}")
    assert item is not None and item.kind == "voicemail" and not item.read
    assert item.data["blob"] == f"voicemail/{name}" and item.data["seconds"] == pytest.approx(2.0)

    pushes = wait_until(
        lambda: [p for p in push_records(stack) if p["payload"]["data"].get("call_id") == call_id],
        what="the voicemail push",
    )
    assert len(pushes) == 1 and pushes[0]["token"] == "live-fcm-token-0001"
    assert pushes[0]["payload"]["type"] == "voicemail"
    texts = wait_until(
        lambda: [s for s in sms_records(stack) if s["message_id"].endswith(f"voicemail:{call_id}:sms")],
        what="the voicemail SMS",
    )
    assert texts[0]["to"] == MOBILE and "New voicemail from +15559870001" in texts[0]["text"]

    # The dead token was removed from the ConfigDB; the live one stays.
    def devices() -> list[str]:
        with box.api() as api:
            return sorted(d["id"] for d in api.get("/devices").json()["items"])

    wait_until(lambda: devices() == [box.live_device], what="dead device removed")
    run = wait_until(lambda: [r for r in runs(stack, "voicemail_new") if r.get("call_id") == call_id])[0]
    assert run["result"] == "notified" and run["activity"] == "refreshed" and run["done"] == 1
    assert sorted(run["queued"]) == ["email", "push", "sms"]
    push_run = wait_until(
        lambda: [r for r in runs(stack, "push_sender") if r["notes"].get("dead_token_removed")],
        what="push run with a dead token",
    )[0]
    assert push_run["done"] == 1 and push_run["skipped"] == 1 and push_run["failed"] == 0

    # Run again on demand (admin endpoint), after the user read it: the item stays read and single,
    # and the SMS and push are not sent twice (same message ids).
    store = open_history_store(stack.settings)
    try:
        store.update_activity(box.tenant_id, box.user_id, f"voicemail:{call_id}", read=True)
    finally:
        store.close()
    before = len(runs(stack, "voicemail_new"))
    admin_run(stack, "voicemail_new", f"voicemail/{name}")
    again = wait_until(lambda: runs(stack, "voicemail_new")[before:], what="the admin run")[0]
    assert again["activity"] == "kept" and again["result"] == "notified"
    item = get_activity(stack, box.tenant_id, box.user_id, f"voicemail:{call_id}")
    assert item is not None and item.read
    wait_drained(stack, "push", "sms")  # whatever the second run queued has been handled
    assert len([p for p in push_records(stack) if p["payload"]["data"].get("call_id") == call_id]) == 1
    assert len([s for s in sms_records(stack) if s["message_id"].endswith(f"voicemail:{call_id}:sms")]) == 1


def test_voicemail_without_edge_activity_gets_one(box: Box) -> None:
    """The edge's activity write failed: the trigger adds the same item."""
    stack = box.stack
    call_id = str(uuid.uuid4())
    name = f"{box.tenant_id}/{box.user_id}/{uuid.uuid4().hex}.wav"
    record = edge_call(
        box.tenant_id, box.user_id, call_id, disposition="voicemail", voicemail_blob=f"voicemail/{name}"
    )
    write_history(stack, record, None)
    upload(stack, name, tone_wav(1.0))
    run = wait_until(lambda: [r for r in runs(stack, "voicemail_new") if r.get("call_id") == call_id])[0]
    assert run["activity"] == "added"
    item = get_activity(stack, box.tenant_id, box.user_id, f"voicemail:{call_id}")
    assert item is not None and not item.read and item.data["seconds"] == pytest.approx(1.0)


def test_deleted_tenant_is_a_counted_skip(box: Box) -> None:
    stack = box.stack
    gone = new_ulid(dt.datetime.now(dt.UTC))
    with ConfigDBClient(stack.cluster.endpoints, stack.cluster.token) as db:
        tenant = Tenant(
            id=gone, name="Gone Ltd", status="cancelled", created_at=SystemClock().now(), region="local"
        )
        db.put(tenant_key(gone), tenant.model_dump(mode="json"))
        db.delete(tenant_key(gone))  # the tenants cleaner removes every key under t/{tid}/
        assert not list(db.iter_prefix(tenant_prefix(gone)))
    name = f"{gone}/{box.user_id}/{uuid.uuid4().hex}.wav"
    upload(stack, name, tone_wav(1.0))
    run = wait_until(lambda: [r for r in runs(stack, "voicemail_new") if r.get("blob", "").endswith(name)])[0]
    assert (
        run["result"] == "tenant_gone" and run["skipped"] == 1 and run["done"] == 0 and run["outcome"] == "ok"
    )

    # Not retried: one run only, even after two more polls of the container (each one runs a
    # blob uploaded after the previous poll ended; a retry would have come in the first).
    def runs_of(blob: str) -> list[dict[str, Any]]:
        return [r for r in runs(stack, "voicemail_new") if r.get("blob", "").endswith(blob)]

    for _ in range(2):
        later = f"{gone}/{box.user_id}/{uuid.uuid4().hex}.wav"
        upload(stack, later, tone_wav(1.0))
        wait_until(functools.partial(runs_of, later), what="the run of a blob uploaded later")
    assert len(runs_of(name)) == 1


def test_missing_blob_and_orphan_voicemail_are_counted(box: Box) -> None:
    """The service on the real adapters: a blob deleted before the trigger ran is a counted skip;
    a blob whose call record never arrives still reaches its user (`voicemail:blob:{id}`)."""
    stack = box.stack

    async def go() -> tuple[Outcome, Outcome, str | None]:
        db = AsyncConfigDBClient(stack.cluster.endpoints, stack.cluster.token)
        media = BlobMedia(stack.azurite.connection_string)
        bus = StorageQueueBus(stack.azurite.connection_string)
        history = AsyncHistoryStore(open_history_store(stack.settings))
        try:
            events = VoicemailEvents(
                history=history,
                recipients=Recipients(ConfigRepo(db)),
                media=media,
                bus=bus,
                clock=SystemClock(),
                portal_url="http://127.0.0.1:8080",
                record_wait_s=1.0,
                poll_s=0.2,
            )
            missing = await events.on_new_blob(f"voicemail/{box.tenant_id}/{box.user_id}/nothing-here.wav")
            blob_id = uuid.uuid4().hex
            await media.upload(
                "voicemail", f"{box.tenant_id}/{box.user_id}/{blob_id}.wav", tone_wav(1.0), "audio/wav"
            )
            orphan = await events.on_new_blob(f"{box.tenant_id}/{box.user_id}/{blob_id}.wav", None)
            return missing.outcome, orphan.outcome, orphan.activity_id
        finally:
            history.store.close()
            await bus.aclose()
            await media.aclose()
            await db.aclose()

    missing, orphan, activity_id = asyncio.run(go())
    assert missing is Outcome.BLOB_MISSING
    assert orphan is Outcome.ORPHAN and activity_id is not None and activity_id.startswith("voicemail:blob:")
    assert get_activity(stack, box.tenant_id, box.user_id, activity_id) is not None
