"""Azurite from npm starts on free ports, serves the dev account, and stops without leftovers."""

from __future__ import annotations

from pathlib import Path

import httpx

from infra.local.azurite import Azurite
from infra.local.managed import port_open


def test_azurite_starts_serves_and_stops(tmp_path: Path) -> None:
    az = Azurite(tmp_path / "azurite")
    with az:
        assert f"BlobEndpoint=http://127.0.0.1:{az.blob_port}/devstoreaccount1;" in az.connection_string
        # An anonymous request reaches Azurite and is refused by it (not by the network).
        r = httpx.get(f"{az.blob_url}?comp=list", timeout=5)
        assert r.status_code in (401, 403), r.text
        r = httpx.get(f"{az.queue_url}?comp=list", timeout=5)
        assert r.status_code in (401, 403), r.text
        pid = az.process.pid
    assert az.process.exit_code() is not None
    assert not any(port_open("127.0.0.1", p) for p in (az.blob_port, az.queue_port, az.table_port))
    assert pid is not None and not Path(f"/proc/{pid}").exists()
