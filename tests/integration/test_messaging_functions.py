"""The messaging queue functions on the real stack: `sms`, `push` (including the edge's
`incoming_call` body), `call-ended` (missed-call notifications) and the hardened `email` sink
(attachments, poison with a reason, failures after 5 deliveries kept visible)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
import pytest

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, mail_text, signup_verified
from shared.configdb import ConfigDBClient
from shared.configdb_keys import device_key
from shared.notifications.services.notify import missed_activity
from tests.integration.notify_helpers import (
    admin_run,
    edge_call,
    get_activity,
    peek,
    push_records,
    runs,
    send,
    send_raw,
    sms_records,
    wait_until,
    write_history,
)

pytestmark = [
    pytest.mark.skipif(not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"),
    pytest.mark.timeout(300),
]

OWNER_EMAIL = "owner@messaging.example"
MOBILE = "+15551239876"


@dataclass
class Owner:
    stack: LocalStack
    tenant_id: str
    user_id: str
    access: str
    live_device: str
    dead_device: str


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(Path(tmp_path_factory.mktemp("msgstack"))) as s:
        yield s


@pytest.fixture(scope="module")
def owner(stack: LocalStack) -> Owner:
    """The signed-up owner, notified of missed calls by email, SMS and push; two devices."""
    tenant_id, access = signup_verified(stack, OWNER_EMAIL)
    with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {access}"}, timeout=10) as api:
        me = next(u for u in api.get("/users").json()["items"] if u["email"] == OWNER_EMAIL)
        notify = {**me["notify"], "email_on_missed": True, "sms_on_missed": True, "push_on_missed": True}
        r = api.patch(f"/users/{me['id']}", json={"forwarding_numbers": [MOBILE], "notify": notify})
        assert r.status_code == 200, r.text
        live = api.post("/devices", json={"platform": "apns", "token": "a" * 64})
        dead = api.post("/devices", json={"platform": "fcm", "token": "dead-fcm-registration-1"})
        assert live.status_code == 201 and dead.status_code == 201
    return Owner(stack, tenant_id, me["id"], access, live.json()["id"], dead.json()["id"])


def mails(stack: LocalStack, to: str, kind: str) -> list[Message]:
    out = []
    for path in sorted(stack.mail_dir.glob("*.eml")):
        msg = message_from_bytes(path.read_bytes())
        if msg["To"] == to and msg["X-CloudPBX-Kind"] == kind:
            out.append(msg)
    return out


def run_for(stack: LocalStack, function: str, message_id: str) -> list[dict[str, object]]:
    return [r for r in runs(stack, function) if r.get("message_id") == message_id]


def test_sms_sent_once_per_message_id_and_on_demand(owner: Owner) -> None:
    stack = owner.stack
    mid = f"test-sms-{uuid.uuid4().hex}"
    body = {"to": MOBILE, "text": "Hello from the queue", "tenant_id": owner.tenant_id, "kind": "notice"}
    send(stack, "sms", body, mid)
    send(stack, "sms", body, mid)  # a redelivery / duplicate producer
    wait_until(lambda: len(run_for(stack, "sms_sender", mid)) == 2, what="two sms runs")
    assert [s["to"] for s in sms_records(stack) if s["message_id"] == mid] == [MOBILE]
    assert all(r["outcome"] == "ok" and r["done"] == 1 for r in run_for(stack, "sms_sender", mid))

    admin_mid = f"admin-sms-{uuid.uuid4().hex}"
    admin_run(stack, "sms_sender", json.dumps({**body, "message_id": admin_mid, "text": "on demand"}))
    recorded = wait_until(
        lambda: [s for s in sms_records(stack) if s["message_id"] == admin_mid], what="admin sms"
    )
    assert recorded[0]["text"] == "on demand"


def test_incoming_call_push_from_the_edge_and_dead_token_removed(owner: Owner) -> None:
    stack = owner.stack
    call_id = str(uuid.uuid4())
    # Exactly what sip_edge/call_flow.py push_incoming sends.
    body = {
        "type": "incoming_call",
        "tenant_id": owner.tenant_id,
        "user_id": owner.user_id,
        "call_id": call_id,
        "caller": "+15559870002",
        "number_called": "+15557770123",
        "devices": [owner.live_device, owner.dead_device],
    }
    send(stack, "push", body, f"{call_id}:incoming_call:{owner.user_id}")
    pushed = wait_until(
        lambda: [p for p in push_records(stack) if p["payload"]["data"].get("call_id") == call_id],
        what="incoming_call push",
    )
    assert len(pushed) == 1 and pushed[0]["platform"] == "apns" and pushed[0]["token"] == "a" * 64
    assert pushed[0]["payload"]["type"] == "incoming_call"
    assert pushed[0]["payload"]["title"] == "Incoming call from +15559870002"
    run = wait_until(lambda: run_for(stack, "push_sender", f"{call_id}:incoming_call:{owner.user_id}"))[0]
    assert (run["done"], run["skipped"], run["failed"]) == (1, 1, 0)
    assert run["notes"] == {"sent": 1, "dead_token_removed": 1}
    with ConfigDBClient(stack.cluster.endpoints, stack.cluster.token) as db:
        assert db.get_or_none(device_key(owner.tenant_id, owner.user_id, owner.dead_device)) is None
        assert db.get_or_none(device_key(owner.tenant_id, owner.user_id, owner.live_device)) is not None


def _bad(doc: dict[str, object]) -> str:
    return json.dumps({"schema_version": 1, **doc})


@pytest.mark.parametrize(
    ("queue", "function", "text", "code", "reason"),
    [
        (
            "sms",
            "sms_sender",
            _bad({"message_id": "bad-sms-1", "to": "555-1234", "text": "x"}),
            "schema-violation",
            "$.to:",
        ),
        (
            "push",
            "push_sender",
            _bad({"message_id": "bad-push-1", "tenant_id": "t"}),
            "schema-violation",
            '"type" is a required',
        ),
        ("email", "email_sink", "this is not json", "undecodable", "invalid body"),
        (
            "call-ended",
            "call_ended",
            _bad({"message_id": "bad-ce-1", "tenant_id": "t"}),
            "schema-violation",
            '"call_id" is a required',
        ),
        (
            "sms",
            "sms_sender",
            json.dumps({"message_id": "bad-sms-2", "to": MOBILE, "text": "x"}),
            "schema-violation",
            '"schema_version" is a required',
        ),
    ],
)
def test_malformed_message_goes_to_poison_with_reason(
    owner: Owner, queue: str, function: str, text: str, code: str, reason: str
) -> None:
    """A body that is not JSON, breaks its queue's JSON Schema (docs/schemas) or lacks the envelope
    is dead-lettered at once: a PoisonNote with the reason code and the validation error."""
    stack = owner.stack
    send_raw(stack, queue, text)
    notes = wait_until(
        lambda: [n for n in peek(stack, f"{queue}-poison") if n.get("body") == text],
        what=f"{queue}-poison note",
    )
    note = notes[0]
    assert note["queue"] == queue and note["function"] == function and note["delivery_count"] == 1
    assert reason in note["reason"], note["reason"]
    assert note["dead_letter_reason"] == code and reason in note["dead_letter_error_description"]
    poisoned = [r for r in runs(stack, function) if r["outcome"] == "poisoned"]
    assert any(reason in str(r["reason"]) and r["failed"] == 1 for r in poisoned)
    assert not [m for m in peek(stack, queue) if m.get("raw") == text]


def test_missed_call_notifies_by_email_sms_and_push(owner: Owner) -> None:
    stack = owner.stack
    call_id = str(uuid.uuid4())
    record = edge_call(owner.tenant_id, owner.user_id, call_id, disposition="missed", caller="+15559870003")
    write_history(stack, record, missed_activity(record, owner.user_id))  # what the edge writes
    # The proposed one-line edge change: `call-ended` after the record is written.
    send(stack, "call-ended", {"tenant_id": owner.tenant_id, "call_id": call_id}, f"{call_id}:call-ended")

    texts = wait_until(
        lambda: [s for s in sms_records(stack) if call_id in s["message_id"]], what="missed-call SMS"
    )
    assert texts[0]["to"] == MOBILE and texts[0]["text"].startswith("Missed call from +15559870003")
    pushes = wait_until(
        lambda: [p for p in push_records(stack) if p["payload"]["data"].get("call_id") == call_id],
        what="missed-call push",
    )
    assert pushes[0]["payload"]["type"] == "missed_call"
    msg = wait_until(lambda: mails(stack, OWNER_EMAIL, "missed_call"), what="missed-call email")[0]
    assert "you missed a call from +15559870003" in mail_text(msg)
    run = wait_until(lambda: run_for(stack, "call_ended", f"{call_id}:call-ended"))[0]
    assert run["done"] == 1 and run["notes"]["activity_kept"] == 1
    item = get_activity(stack, owner.tenant_id, owner.user_id, f"missed:{call_id}")
    assert item is not None and item.kind == "missed_call" and not item.read

    # An answered call and a call of a deleted tenant are counted skips.
    answered = str(uuid.uuid4())
    write_history(stack, edge_call(owner.tenant_id, owner.user_id, answered, disposition="answered"), None)
    send(stack, "call-ended", {"tenant_id": owner.tenant_id, "call_id": answered}, f"{answered}:call-ended")
    send(stack, "call-ended", {"tenant_id": "01JZZZZZZZZZZZZZZZZZZZZZZZ", "call_id": answered}, "gone:1")
    skipped = wait_until(lambda: run_for(stack, "call_ended", f"{answered}:call-ended"))[0]
    assert skipped["skipped"] == 1 and skipped["notes"] == {"not_missed": 1}
    gone = wait_until(lambda: run_for(stack, "call_ended", "gone:1"))[0]
    assert gone["skipped"] == 1 and gone["notes"] == {"tenant_gone": 1}


def test_email_with_inline_and_missing_attachments(owner: Owner) -> None:
    stack = owner.stack
    mid = f"attach-{uuid.uuid4().hex}"
    body = {
        "kind": "report",
        "to": "reports@messaging.example",
        "subject": "Your report",
        "text": "Attached.",
        "attachments": [
            {"filename": "report.csv", "content_type": "text/csv", "content_b64": "YSxiCjEsMgo="},
            {"filename": "gone.wav", "content_type": "audio/wav", "blob": "voicemail/no/such/blob.wav"},
        ],
    }
    send(stack, "email", body, mid)
    msg = wait_until(lambda: mails(stack, "reports@messaging.example", "report"), what="report email")[0]
    files = [(p.get_filename(), p.get_payload(decode=True)) for p in msg.walk() if p.get_filename()]
    assert files == [("report.csv", b"a,b\n1,2\n")]
    run = wait_until(lambda: run_for(stack, "email_sink", mid))[0]
    assert run["done"] == 1 and run["skipped"] == 1 and run["notes"]["attachment_missing"] == 1


def test_email_failing_five_deliveries_is_poisoned_with_reason(owner: Owner) -> None:
    """SMTP down: each delivery tries 3 times, the host redelivers, the 5th delivery is poisoned
    with its reason; the run lines count every failure. SMTP comes back for the next tests."""
    stack = owner.stack
    mid = f"down-{uuid.uuid4().hex}"
    stack.smtp.stop()
    try:
        send(stack, "email", {"to": "x@messaging.example", "subject": "s", "text": "t"}, mid)
        note = wait_until(
            lambda: [n for n in peek(stack, "email-poison") if n.get("message_id") == mid],
            timeout=90,
            what="email-poison note after 5 deliveries",
        )[0]
    finally:
        stack.smtp.start()
        stack.smtp.wait_ready(15)
    assert note["delivery_count"] == 5 and note["reason"].startswith("Unavailable: smtp")
    assert note["dead_letter_reason"] == "max-deliveries"
    assert note["dead_letter_error_description"].startswith("Unavailable: smtp")
    outcomes = [r["outcome"] for r in run_for(stack, "email_sink", mid)]
    assert outcomes == ["retry"] * 4 + ["poisoned"]
