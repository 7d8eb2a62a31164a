"""Producers and consumers of every queue agree on the transport, in each configuration.

For each configuration (no Service Bus setting: Storage queues; `ServiceBusConnection`;
`ServiceBusConnection__fullyQualifiedNamespace`), a fresh interpreter imports `function_app` with
that environment and reports every queue function's trigger, the transport `transport()` picks,
and the class of the bus the functions' `Adapters` and `make_bus` (the edge's) build. Every queue a
producer sends to (the `*_QUEUE` constants of the domain models, and the queues with a message
contract) must have exactly one function, whose trigger matches the producers' bus.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared import message_contract
from shared.adapters.bus_transport import make_bus, transport
from shared.adapters.service_bus import ServiceBusBus
from shared.adapters.storage_queue_bus import StorageQueueBus
from shared.billing import models as billing_models
from shared.notifications import models as notification_models
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONNECTION = "Endpoint=sb://pbx-test.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=a2V5"
NAMESPACE = "pbx-test.servicebus.windows.net"
SB_SETTINGS = ("ServiceBusConnection", "ServiceBusConnection__fullyQualifiedNamespace")

CONFIGURATIONS = {
    "storage": ({}, "storage", "queueTrigger", "AzureWebJobsStorage", "StorageQueueBus"),
    "connection-string": (
        {"ServiceBusConnection": CONNECTION},
        "servicebus",
        "serviceBusTrigger",
        "ServiceBusConnection",
        "ServiceBusBus",
    ),
    "managed-identity": (
        {"ServiceBusConnection__fullyQualifiedNamespace": NAMESPACE},
        "servicebus",
        "serviceBusTrigger",
        "ServiceBusConnection",
        "ServiceBusBus",
    ),
}

PROBE = """
import json
import function_app
from functions.wiring import Adapters
from shared.adapters.bus_transport import make_bus, transport
from shared.settings import get_settings

functions = []
for f in function_app.app.get_functions():
    t = f.get_trigger()
    d = t.get_dict_repr()
    if "queueName" in d:
        functions.append({
            "name": f.get_function_name(), "type": t.get_binding_name(), "queue": d["queueName"],
            "connection": d.get("connection"), "auto_complete": d.get("autoCompleteMessages"),
        })
settings = get_settings()
print(json.dumps({
    "functions": functions,
    "transport": transport(settings),
    "functions_bus": type(Adapters(settings).bus).__name__,
    "edge_bus": type(make_bus(settings)).__name__,
}))
"""


def produced_queues() -> set[str]:
    """The queue names producers send to: every `*_QUEUE` string constant of the domain models,
    and every queue with a message contract."""
    names = set(message_contract.QUEUES)
    for module in (notification_models, billing_models):
        for attr, value in vars(module).items():
            if attr.endswith("_QUEUE") and isinstance(value, str):
                names.add(value)
    return names


@pytest.fixture(scope="module")
def probes() -> dict[str, dict[str, object]]:
    """Each configuration's report, from three interpreters started at once."""
    procs = {}
    for config, (env, *_) in CONFIGURATIONS.items():
        child_env = {k: v for k, v in os.environ.items() if k not in SB_SETTINGS}
        child_env.update(env, PBX_ENVIRONMENT="local")
        procs[config] = subprocess.Popen(
            [sys.executable, "-c", PROBE],
            cwd=ROOT,
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    results = {}
    for config, proc in procs.items():
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"{config}: {err[-3000:]}"
        results[config] = json.loads(out.strip().splitlines()[-1])
    return results


def test_the_produced_queues_are_the_known_ones() -> None:
    assert produced_queues() >= {"email", "sms", "push", "call-ended", "reports"}


@pytest.mark.parametrize("config", list(CONFIGURATIONS))
def test_each_queue_has_one_function_on_the_producers_transport(
    config: str, probes: dict[str, dict[str, object]]
) -> None:
    _, expected_transport, trigger, connection, bus_class = CONFIGURATIONS[config]
    result = probes[config]
    assert result["transport"] == expected_transport
    assert result["functions_bus"] == bus_class and result["edge_bus"] == bus_class
    functions = result["functions"]
    assert isinstance(functions, list)
    for queue in sorted(produced_queues()):
        consumers = [f for f in functions if f["queue"] == queue]
        assert len(consumers) == 1, f"{config}: queue {queue!r} has consumers {consumers}"
    for f in functions:
        assert f["type"] == trigger, f"{config}: {f['name']} is a {f['type']}, the producers use {bus_class}"
        assert f["connection"] == connection, f
        if trigger == "serviceBusTrigger":
            assert f["auto_complete"] is False, f"{f['name']} must settle its own messages"


def settings_with(**values: str) -> Settings:
    return Settings(pbx_environment="local", **values)  # type: ignore[arg-type]


def test_transport_and_make_bus_follow_the_settings() -> None:
    assert transport(settings_with()) == "storage"
    assert isinstance(make_bus(settings_with()), StorageQueueBus)
    for values in (
        {"ServiceBusConnection": CONNECTION},
        {"ServiceBusConnection__fullyQualifiedNamespace": NAMESPACE},
    ):
        s = settings_with(**values)
        assert transport(s) == "servicebus"
        assert isinstance(make_bus(s), ServiceBusBus)


def test_buses_are_built_only_by_make_bus() -> None:
    """No production module constructs a bus adapter itself: they all go through make_bus, so no
    producer can disagree with the functions' triggers."""
    offenders = []
    for package in ("functions", "sip_edge", "shared", "ops", "configdb_nodes"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "bus_transport.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in ("StorageQueueBus", "ServiceBusBus")
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
    for root in ("functions/wiring.py", "sip_edge/__main__.py"):
        tree = ast.parse((ROOT / root).read_text(encoding="utf-8"))
        calls = [
            n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "make_bus"
        ]
        assert calls, f"{root} must build its bus with make_bus"


SERVICE_BUS_RUN = """
import asyncio, json, sys
from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus._pyamqp.message import Header, Message, Properties
import function_app

class Actions:
    calls = []
    def complete(self, m): self.calls.append(["complete"])
    def abandon(self, m): self.calls.append(["abandon"])
    def deadletter(self, m, deadletter_reason=None, deadletter_error_description=None):
        self.calls.append(["deadletter", deadletter_reason, deadletter_error_description])

fn = {f.get_function_name(): f for f in function_app.app.get_functions()}["sms_sender"].get_user_function()
out = []
for body in (sys.argv[1], sys.argv[2]):
    actions = Actions()
    actions.calls = []
    props = Properties(message_id=b"sb-1")
    amqp = Message(data=[body.encode()], header=Header(delivery_count=0), properties=props)
    asyncio.run(fn(msg=ServiceBusReceivedMessage(amqp, receiver=None), message_actions=actions))
    out.append(actions.calls)
print(json.dumps(out))
"""


def test_a_service_bus_function_settles_through_its_message_actions(tmp_path: Path) -> None:
    """`sms_sender` as Azure's worker calls it on Service Bus: the SDK-type message and the message
    actions; a good message is sent and completed, a malformed one dead-lettered with the reason."""
    env = {k: v for k, v in os.environ.items() if k not in SB_SETTINGS}
    env.update(ServiceBusConnection=CONNECTION, PBX_ENVIRONMENT="local", DATA_DIR=str(tmp_path))
    good = json.dumps({"message_id": "sb-good", "schema_version": 1, "to": "+15551230000", "text": "hi"})
    bad = json.dumps({"message_id": "sb-bad", "schema_version": 1, "to": "555", "text": "hi"})
    out = subprocess.run(
        [sys.executable, "-c", SERVICE_BUS_RUN, good, bad],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    completed, dead = json.loads(out.stdout.strip().splitlines()[-1])
    assert completed == [["complete"]]
    assert dead[0][:2] == ["deadletter", "schema-violation"] and "$.to" in dead[0][2]
    sent = [json.loads(line) for line in (tmp_path / "sms" / "messages.jsonl").read_text().splitlines()]
    assert [s["message_id"] for s in sent] == ["sb-good"]
