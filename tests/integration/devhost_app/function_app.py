"""Test function app: a tiny FastAPI app plus a Blueprint with timer, queue and blob functions.

Every function records what it did as a blob so the tests can observe it through Azurite.
"""

from __future__ import annotations

import json
import os
import uuid

import azure.functions as func
from azure.storage.blob import BlobServiceClient
from fastapi import FastAPI

STORAGE_SETTING = "AzureWebJobsStorage"
SB_CONNECTION = "ServiceBusConnection"


def _blobs() -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(os.environ[STORAGE_SETTING])


def write_blob(container: str, name: str, data: bytes) -> None:
    client = _blobs().get_container_client(container)
    if not client.exists():
        client.create_container()
    client.upload_blob(name, data, overwrite=True)


api = FastAPI()


@api.get("/api/ping")
async def ping() -> dict[str, str]:
    return {"pong": "yes"}


bp = func.Blueprint()


@bp.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False)
def yearly_marker(timer: func.TimerRequest) -> None:
    body = json.dumps({"past_due": timer.past_due}).encode()
    write_blob("markers", f"timer-{uuid.uuid4().hex}", body)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="work", connection=SB_CONNECTION)
async def work_item(msg: func.ServiceBusMessage) -> None:
    body = msg.get_body().decode()
    if body == "fail":
        raise RuntimeError(f"asked to fail (delivery {msg.delivery_count})")
    write_blob("results", body, json.dumps({"delivery_count": msg.delivery_count}).encode())


@bp.blob_trigger(arg_name="blob", path="uploads/{name}", connection="AzureWebJobsStorage")
def process_upload(blob: func.InputStream) -> None:
    assert blob.name is not None
    name = blob.name.split("/", 1)[1]
    write_blob("processed", name, blob.read().upper())


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="orders", connection=SB_CONNECTION)
@bp.blob_input(arg_name="greeting", path="config/greeting.txt", connection="AzureWebJobsStorage")
@bp.blob_output(arg_name="receipt", path="orders-out/{orderId}.txt", connection="AzureWebJobsStorage")
@bp.service_bus_queue_output(arg_name="follow_up", queue_name="orders-next", connection=SB_CONNECTION)
def order_placed(
    msg: func.ServiceBusMessage, greeting: str | None, receipt: func.Out[str], follow_up: func.Out[str]
) -> None:
    """Bindings beyond the trigger: a blob input, a blob output and a queue output."""
    order = json.loads(msg.get_body())
    receipt.set(f"{greeting}:{order['orderId']}")
    follow_up.set(json.dumps({"shipped": order["orderId"]}))


app = func.AsgiFunctionApp(app=api, http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bp)
