"""Azurite, the Azure Storage emulator (blobs, queues, tables), installed from npm.

`make run` runs it on the fixed ports 10000-10002 with data under .data/azurite; tests
run their own on free ports:

    with Azurite(tmp_path / "azurite") as az:          # free ports
        BlobServiceClient.from_connection_string(az.connection_string)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from shared.settings import azurite_connection_string

from .managed import REPO, ManagedProcess, ports_open
from .ports import free_port

AZURITE_BIN = REPO / "node_modules" / ".bin" / "azurite"
HOST = "127.0.0.1"


@dataclass
class Azurite:
    location: Path
    blob_port: int = field(default_factory=free_port)
    queue_port: int = field(default_factory=free_port)
    table_port: int = field(default_factory=free_port)
    log_path: Path | None = None  # default: <location>.log next to the data directory
    process: ManagedProcess = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not AZURITE_BIN.exists():
            raise FileNotFoundError(f"{AZURITE_BIN} is missing: run `npm ci` (make does) first")
        cmd = [
            str(AZURITE_BIN),
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--location",
            str(self.location),
            *("--blobHost", HOST, "--queueHost", HOST, "--tableHost", HOST),
            *("--blobPort", str(self.blob_port)),
            *("--queuePort", str(self.queue_port)),
            *("--tablePort", str(self.table_port)),
        ]
        log = self.log_path or self.location.with_name(self.location.name + ".log")
        self.process = ManagedProcess(
            "azurite", cmd, log, ports_open(HOST, self.blob_port, self.queue_port, self.table_port)
        )

    @classmethod
    def fixed(cls, location: Path) -> Azurite:
        """The design's local ports: blob 10000, queue 10001, table 10002."""
        return cls(location, 10000, 10001, 10002)

    @property
    def connection_string(self) -> str:
        return azurite_connection_string(HOST, self.blob_port, self.queue_port, self.table_port)

    @property
    def blob_url(self) -> str:
        return f"http://{HOST}:{self.blob_port}/devstoreaccount1"

    @property
    def queue_url(self) -> str:
        return f"http://{HOST}:{self.queue_port}/devstoreaccount1"

    @property
    def table_url(self) -> str:
        return f"http://{HOST}:{self.table_port}/devstoreaccount1"

    def start(self, timeout: float = 30.0) -> None:
        self.location.mkdir(parents=True, exist_ok=True)
        self.process.start()
        self.process.wait_ready(timeout)

    def stop(self) -> None:
        self.process.stop()

    def __enter__(self) -> Azurite:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
