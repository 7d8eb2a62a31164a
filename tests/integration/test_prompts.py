"""Prompts through the whole stack: the upload lands in Azurite, the `prompt_convert` blob
trigger runs in the functions host process (not in this process), and the audio is served
as a 302 to a Blob SAS URL that answers Range requests."""

from __future__ import annotations

import io
import math
import struct
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, signup_verified
from shared.media.audio import wav_format

pytestmark = pytest.mark.skipif(
    not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(Path(tmp_path_factory.mktemp("stack"))) as s:
        yield s


@pytest.fixture(scope="module")
def tenants(stack: LocalStack) -> tuple[tuple[str, dict[str, str]], tuple[str, dict[str, str]]]:
    a_tid, a_token = signup_verified(stack, "owner@prompts-a.example", company="Prompts A")
    b_tid, b_token = signup_verified(stack, "owner@prompts-b.example", company="Prompts B")
    return (a_tid, {"Authorization": f"Bearer {a_token}"}), (b_tid, {"Authorization": f"Bearer {b_token}"})


def tone_wav(rate: int, channels: int, seconds: float) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for i in range(int(rate * seconds)):
            frames += struct.pack("<h", int(math.sin(2 * math.pi * 440 * i / rate) * 12000)) * channels
        w.writeframes(bytes(frames))
    return out.getvalue()


def wait_for_status(api: httpx.Client, headers: dict[str, str], pid: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = api.get(f"/prompts/{pid}", headers=headers)
        assert r.status_code == 200, r.text
        if r.json()["status"] != "processing":
            return r.json()
        time.sleep(0.3)
    raise AssertionError(f"prompt {pid} still processing after {timeout}s")


def test_upload_convert_and_serve_with_range(stack: LocalStack, tenants) -> None:
    (tid, auth), (_, other) = tenants
    with httpx.Client(base_url=stack.api, timeout=20) as api:
        up = api.post(
            "/prompts",
            headers=auth,
            files={"file": ("greeting.bin", tone_wav(16000, 2, 1.0), "application/octet-stream")},
            data={"name": "Main greeting"},
        )
        assert up.status_code == 202, up.text
        body = up.json()
        assert body["status"] == "processing" and body["name"] == "Main greeting" and body["format"] == "wav"
        pid = body["id"]

        early = api.get(f"/prompts/{pid}/audio", headers=auth)
        assert early.status_code in (302, 409)  # 409 until the trigger has run

        done = wait_for_status(api, auth, pid)
        assert done["status"] == "ready", done
        assert abs(done["duration_ms"] - 1000) <= 5
        assert [p["id"] for p in api.get("/prompts", headers=auth).json()["items"]] == [pid]

        audio = api.get(f"/prompts/{pid}/audio", headers=auth)
        assert audio.status_code == 302, audio.text
        url = audio.headers["location"]
        assert "sp=r" in url and "se=" in url  # read-only, with an expiry

    part = httpx.get(url, headers={"Range": "bytes=0-99"}, timeout=10)
    assert part.status_code == 206, part.text
    assert len(part.content) == 100
    fmt = wav_format(part.content)
    assert (fmt.sample_rate, fmt.channels, fmt.sample_width) == (8000, 1, 2)
    whole = httpx.get(url, timeout=10)
    assert whole.status_code == 200 and wav_format(whole.content).frames == 8000
    assert (
        httpx.put(url, content=b"x", headers={"x-ms-blob-type": "BlockBlob"}, timeout=10).status_code == 403
    )

    # The blob trigger ran in the host process, and its own output did not re-trigger conversion.
    log = stack.host.log_path.read_text()
    assert log.count(f"prompts/{tid}/{pid}/original.wav") >= 1
    assert "prompt_convert" in log

    # Another tenant cannot see, fetch or delete it.
    with httpx.Client(base_url=stack.api, timeout=20) as api:
        assert api.get(f"/prompts/{pid}", headers=other).status_code == 404
        assert api.get(f"/prompts/{pid}/audio", headers=other).status_code == 404
        assert api.delete(f"/prompts/{pid}", headers=other).status_code == 404
        assert api.get("/prompts", headers=other).json()["items"] == []

        # Delete removes the metadata and both blobs.
        assert api.delete(f"/prompts/{pid}", headers=auth).status_code == 204
        assert api.get(f"/prompts/{pid}", headers=auth).status_code == 404
        assert api.get(f"/prompts/{pid}/audio", headers=auth).status_code == 404
    blobs = BlobServiceClient.from_connection_string(stack.settings.storage_connection)
    left = [
        b.name for b in blobs.get_container_client("prompts").list_blobs(name_starts_with=f"{tid}/{pid}/")
    ]
    assert left == []


def test_undecodable_audio_is_marked_failed(stack: LocalStack, tenants) -> None:
    (_, auth), _ = tenants
    bad = bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(range(256)) * 4  # an MP3 frame header, then garbage
    with httpx.Client(base_url=stack.api, timeout=20) as api:
        no_chunks = b"RIFF\x24\x00\x00\x00WAVE" + b"\x00" * 200  # a WAVE header without chunks
        refused = api.post("/prompts", headers=auth, files={"file": ("bad.wav", no_chunks, "audio/wav")})
        assert refused.status_code == 415, refused.text  # probed at upload, never stored
        up = api.post("/prompts", headers=auth, files={"file": ("bad.mp3", bad, "audio/mpeg")})
        assert up.status_code == 202, up.text
        done = wait_for_status(api, auth, up.json()["id"])
        assert done["status"] == "failed" and done["reason"]
        r = api.get(f"/prompts/{done['id']}/audio", headers=auth)
        assert r.status_code == 409
        assert r.headers["content-type"] == "application/problem+json"


def test_oversize_and_wrong_type_are_refused(stack: LocalStack, tenants) -> None:
    (_, auth), _ = tenants
    with httpx.Client(base_url=stack.api, timeout=60) as api:
        big = b"RIFF" + b"\x00" * (10 * 1024 * 1024 + 1)
        r = api.post("/prompts", headers=auth, files={"file": ("big.wav", big, "audio/wav")})
        assert r.status_code == 413, r.text
        assert r.headers["content-type"] == "application/problem+json"

        # Named .wav and declared audio/wav, but a PDF: the content decides.
        r = api.post("/prompts", headers=auth, files={"file": ("fake.wav", b"%PDF-1.7\n" * 50, "audio/wav")})
        assert r.status_code == 415, r.text
        assert r.headers["content-type"] == "application/problem+json"

        r = api.post("/prompts", headers=auth, data={"name": "no file"})
        assert r.status_code == 422
        assert (
            api.post("/prompts", files={"file": ("a.wav", tone_wav(8000, 1, 0.1), "audio/wav")}).status_code
            == 401
        )
        assert api.get("/prompts/not-an-id", headers=auth).status_code == 404
