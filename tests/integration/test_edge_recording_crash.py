"""A recorded call survives a SIGKILL of the edge: the recording is on disk as it is made
(`CallRecorder(spool=...)`, flushed and fsynced every 2 s), and the restarted edge fixes the torn
file's header and uploads it (`SpoolingUploader.start`). The caller dials a real edge process,
presses 1, and is bridged to a user who records her calls (the provider stand-in answers for
her phone); after about 8 s of recording the edge is killed, then started again on the same data
directory. The blob must arrive in Azurite holding at least the recorded time less 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.managed import ManagedProcess
from infra.local.stack import LocalStack, signup_verified
from shared.adapters.blob_media import BlobMedia
from sip_edge.media import dsp
from tests.sip_fixtures import SimProcess, edge_events, start_caller, start_edge, start_provider_sim
from tests.waiting import eventually

pytestmark = pytest.mark.timeout(300)

NUMBER = "+15557770100"
ALICE_PHONE = "+15550001001"
RULES = {
    ALICE_PHONE: {"action": "answer", "ring_s": 0.5, "tone_hz": 1000, "echo": False, "hangup_after_s": 120}
}
RECORD_S = 8.0  # the scenario: how long the call records before the kill
LOSS_S = 5.0  # the most a SIGKILL may lose


def configure(stack: LocalStack) -> str:
    tenant_id, access = signup_verified(stack, "owner@edge-crash.example", company="Crash Ltd")
    with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {access}"}, timeout=10) as api:
        alice = api.post(
            "/users",
            json={
                "name": "Alice",
                "email": "alice@edge-crash.example",
                "forwarding_numbers": [ALICE_PHONE],
                "ring_timeout_s": 10,
                "recording_enabled": True,
            },
        )
        alice.raise_for_status()
        menu = api.post(
            "/ivr-menus",
            json={
                "name": "Main",
                "greeting": {"text": "Press 1 for Alice."},
                "options": [
                    {"digit": "1", "action": {"type": "transfer_user", "user_id": alice.json()["id"]}}
                ],
                "timeout_s": 5,
            },
        )
        menu.raise_for_status()
        api.post(
            "/numbers", json={"number": NUMBER, "entry": {"type": "menu", "id": menu.json()["id"]}}
        ).raise_for_status()
    return tenant_id


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalStack, SimProcess, ManagedProcess, int, str]]:
    base = tmp_path_factory.mktemp("edge-crash")
    with LocalStack(base / "stack") as stack:
        tenant_id = configure(stack)
        sim = start_provider_sim(base / "sim", RULES)
        try:
            proc, sip_port, _ = start_edge(stack, sim, base)
            try:
                yield stack, sim, proc, sip_port, tenant_id
            finally:
                proc.stop()
        finally:
            sim.stop()


def blob(stack: LocalStack, container: str, name: str) -> bytes | None:
    async def get() -> bytes | None:
        media = BlobMedia(stack.azurite.connection_string)
        try:
            return await media.download(container, name)
        except Exception:
            return None
        finally:
            await media.aclose()

    return asyncio.run(get())


def test_sigkill_mid_recording_loses_at_most_five_seconds(world: Any, tmp_path: Path) -> None:
    stack, _sim, proc, sip_port, tenant_id = world
    caller = start_caller(
        NUMBER,
        f"127.0.0.1:{sip_port}",
        tmp_path,
        digits="1",
        digit_delay=1.0,
        tone=440,
        record=False,
        timeout=90,
    )
    try:
        bridged = eventually(
            lambda: [e for e in edge_events(proc.log_path, "bridged") if e.get("recording")],
            timeout=40,
            interval=0.1,
            message="the bridge with a recording",
        )[0]
        started = time.monotonic()
        call_id = bridged["call_id"]
        time.sleep(RECORD_S)  # the scenario: the call records this long
        assert proc.pid is not None
        os.killpg(proc.pid, signal.SIGKILL)
        recorded = time.monotonic() - started
        assert proc.proc is not None
        proc.proc.wait(10)
    finally:
        with contextlib.suppress(Exception):
            caller.proc.stop()

    name = f"{tenant_id}/{call_id}.wav"
    assert blob(stack, "recordings", name) is None  # nothing was uploaded before the kill
    proc.start()
    proc.wait_ready(40)
    data = eventually(
        lambda: blob(stack, "recordings", name), timeout=30, interval=0.5, message=f"blob {name}"
    )
    pcm, rate = dsp.read_wav(data)
    seconds = len(pcm) / 2 / rate
    assert recorded - LOSS_S <= seconds <= recorded + 0.5, (seconds, recorded)
    assert "recording_recovered" in proc.log_path.read_text(errors="replace"), proc.log_tail()
