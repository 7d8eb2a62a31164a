"""`python -m ops dlq` on the local transport: real `<queue>-poison` Storage queues in Azurite, the
CLI as a subprocess, and a one-node ConfigDB for the replay's audit records.

Messages are poisoned the way the queue runtime does it (a `PoisonNote` sent through the Storage
queue bus) and the way the Functions host does it (a plain copy of the original message).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from infra.local.configdb_cluster import LocalCluster
from infra.local.managed import REPO
from shared.adapters.storage_queue_bus import StorageQueueBus
from shared.configdb import ConfigDBClient
from shared.configdb_keys import AUDIT_PREFIX
from shared.notifications.models import PoisonNote
from tests.integration.azurite import Azurite, azurite  # noqa: F401

NOW = dt.datetime(2026, 12, 3, 9, 30, tzinfo=dt.UTC)
Run = tuple[dict[str, str], tuple[str, ...]]


@pytest.fixture(scope="module")
def configdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    cluster = LocalCluster(base_dir=tmp_path_factory.mktemp("dlq-configdb"), size=1)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def in_parallel(*runs: Run) -> list[subprocess.CompletedProcess[str]]:
    """`python -m ops dlq ARGS` once per (env, args), all started at once (each start costs ~1 s)."""
    procs = []
    for env, args in runs:
        cmd = [sys.executable, "-m", "ops", "dlq", *args]
        procs.append(
            (
                cmd,
                subprocess.Popen(
                    cmd, cwd=REPO, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE
                ),
            )
        )
    done = []
    for cmd, proc in procs:
        out, err = proc.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    return done


def ops(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return in_parallel((env, args))[0]


def lines(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in done.stdout.splitlines()]


def refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    """Bad input: exit 2, nothing on stdout, one sentence on stderr."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def sms_body(message_id: str, text: str = "Missed call from +15557654321") -> str:
    doc = {"message_id": message_id, "schema_version": 1, "to": "+15551234567", "text": text}
    return json.dumps(doc, separators=(",", ":"))


def note(message_id: str, code: str, description: str, body: str, truncated: bool = False) -> dict[str, Any]:
    return PoisonNote(
        message_id=message_id,
        queue="sms",
        function="sms_sender",
        reason=description,
        dead_letter_reason=code,
        dead_letter_error_description=description,
        delivery_count=1,
        poisoned_at=NOW,
        body=body,
        body_truncated=truncated,
    ).model_dump(mode="json")


def queue_texts(connection: str, queue: str) -> list[str]:
    client = QueueClient.from_connection_string(connection, queue)
    return [base64.b64decode(m.content).decode() for m in client.peek_messages(max_messages=32)]


def test_list_and_replay_dead_letters_of_the_storage_transport(
    azurite: Azurite,  # noqa: F811
    configdb: LocalCluster,
) -> None:
    conn = azurite.connection_string
    env = {k: v for k, v in os.environ.items() if not k.startswith("ServiceBusConnection")}
    env.update(
        AzureWebJobsStorage=conn,
        PBX_ENVIRONMENT="local",
        CONFIGDB_ENDPOINTS=",".join(configdb.endpoints),
        CONFIGDB_TOKEN=configdb.token,
        OPS_OPERATOR="ada@noc",
    )
    long_text = "x" * 600
    schema = 'sms message breaks sms.schema.json v1: $.to: "555" does not match'

    async def poison() -> None:
        bus = StorageQueueBus(conn)
        try:
            await bus.send("sms-poison", note("sms-1", "schema-violation", schema, sms_body("sms-1")), "p1")
            long_body = sms_body("sms-2", long_text)
            await bus.send("sms-poison", note("sms-2", "rejected", "Rejected: 21211", long_body), "p2")
            cut = sms_body("sms-4")[:40]
            await bus.send("sms-poison", note("sms-4", "rejected", "too long", cut, truncated=True), "p4")
        finally:
            await bus.aclose()
        # the Functions host's own move after 5 deliveries: a plain copy of the original message
        host_copy = base64.b64encode(sms_body("sms-3").encode()).decode()
        QueueClient.from_connection_string(conn, "sms-poison").send_message(host_copy)

    asyncio.run(poison())

    done = ops(env, "list", "sms")
    assert done.returncode == 0, done.stderr
    listed = lines(done)
    assert [d["message_id"] for d in listed] == ["sms-1", "sms-2", "sms-4", "sms-3"]
    first = listed[0]
    assert first["reason"] == "schema-violation" and first["description"] == schema
    assert first["delivery_count"] == 1 and first["queue"] == "sms"
    assert dt.datetime.fromisoformat(first["dead_lettered_at"]) == NOW
    assert json.loads(first["body_preview"]) == json.loads(sms_body("sms-1"))
    assert len(listed[1]["body_preview"]) == 200 and listed[1]["body_preview"].endswith("…")
    assert listed[2]["body_truncated"] is True
    assert listed[3]["reason"] == "max-deliveries" and listed[3]["description"] is None
    assert len({d["id"] for d in listed}) == 4

    # one by id: back on sms as a new message, gone from sms-poison, the others visible at once
    done = ops(env, "replay", "sms", "--id", first["id"])
    assert done.returncode == 0, done.stderr
    assert lines(done) == [
        {
            "replayed": True,
            "id": first["id"],
            "queue": "sms",
            "message_id": "sms-1",
            "reason": "schema-violation",
        }
    ]
    assert [json.loads(t) for t in queue_texts(conn, "sms")] == [json.loads(sms_body("sms-1"))]

    dead = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + "A" * 88 + ";"
    unreachable = {**env, "AzureWebJobsStorage": dead + "QueueEndpoint=http://127.0.0.1:9/devstoreaccount1;"}
    # (a replay hides the poison messages it looks at, so none runs alongside a list of sms)
    rest, fax, voicemail, email, down = in_parallel(
        (env, ("list", "sms")),
        (env, ("list", "fax")),
        (env, ("replay", "voicemail")),
        (env, ("list", "email")),
        (unreachable, ("list", "sms")),
    )
    assert [d["message_id"] for d in lines(rest)] == ["sms-2", "sms-4", "sms-3"]
    refused(fax, "unknown queue 'fax'", "email, sms, push, call-ended, reports")
    refused(voicemail, "unknown queue 'voicemail'")
    assert (email.returncode, email.stdout, email.stderr) == (0, "", "")  # no email-poison yet: none
    assert down.returncode == 1 and down.stdout == "", down.stderr
    assert "the dead-letter queue is unreachable" in down.stderr and "Traceback" not in down.stderr
    refused(ops(env, "replay", "sms", "--id", first["id"]), "no dead letter with id", "sms-poison")

    # all: the truncated one stays (exit 1, one sentence), the others go back
    done = ops(env, "replay", "sms")
    assert done.returncode == 1 and "1 dead letters were kept" in done.stderr, done.stderr
    assert [(d["message_id"], d["replayed"]) for d in lines(done)] == [
        ("sms-2", True),
        ("sms-3", True),
        ("sms-4", False),
    ]
    texts = queue_texts(conn, "sms")
    assert [json.loads(t)["message_id"] for t in texts] == ["sms-1", "sms-2", "sms-3"]
    assert json.loads(texts[1])["text"] == long_text
    assert [d["message_id"] for d in lines(ops(env, "list", "sms"))] == ["sms-4"]

    with ConfigDBClient(configdb.endpoints, configdb.token) as db:
        records = [kv.value for kv in db.list(AUDIT_PREFIX).items]
    assert sorted((r["outcome"], r["args"]["queue"], r["args"]["id"] or "") for r in records) == [
        ("error", "sms", ""),
        ("error", "sms", first["id"]),
        ("error", "voicemail", ""),
        ("ok", "sms", first["id"]),
    ]
    assert {r["command"] for r in records} == {"dlq replay"} and {r["operator"] for r in records} == {
        "ada@noc"
    }
    assert records[0]["summary"] == {"transport": "storage", "replayed": 1, "kept": 0}
    assert records[-1]["summary"] == {"transport": "storage", "replayed": 2, "kept": 1}
