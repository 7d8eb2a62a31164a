"""Blob and queue operations the host performs for bindings (sync; call through ``asyncio.to_thread``)."""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from functions.devhost.messages import Encoding, encode_body


def split_blob_path(path: str) -> tuple[str, str]:
    container, _, name = path.strip("/").partition("/")
    if not container or not name:
        raise ValueError(f"blob path {path!r} must be container/name")
    return container, name


class StorageIO:
    def __init__(self, blobs: BlobServiceClient, queues: QueueServiceClient, encoding: Encoding) -> None:
        self.blobs = blobs
        self.queues = queues
        self.encoding = encoding

    def read_blob(self, path: str) -> tuple[bytes, str] | None:
        container, name = split_blob_path(path)
        client = self.blobs.get_blob_client(container, name)
        try:
            return client.download_blob().readall(), client.url
        except ResourceNotFoundError:
            return None

    def write_blob(self, path: str, data: bytes) -> None:
        container, name = split_blob_path(path)
        cc = self.blobs.get_container_client(container)
        with contextlib.suppress(ResourceExistsError):
            cc.create_container()
        cc.upload_blob(name, data, overwrite=True)

    def enqueue(self, queue: str, body: bytes) -> None:
        qc = self.queues.get_queue_client(queue)
        with contextlib.suppress(ResourceExistsError):
            qc.create_queue()
        qc.send_message(encode_body(body, self.encoding))
