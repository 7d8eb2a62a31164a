"""Prompt uploads are probed before anything is stored or decoded: over HTTP against a real
ConfigDB shard (the harness of `test_api_accounts`). A refused upload never reaches Blob storage,
so no Azurite is needed here; the conversion path is covered by `test_prompts`."""

from __future__ import annotations

import struct

import httpx

from infra.local.configdb_cluster import LocalCluster

from .test_api_accounts import API, PROBLEM, RecordingBus, bearer, run, signup_and_login


def raw_wav(tag: int, rate: int, block_align: int, bits: int, data: bytes) -> bytes:
    fmt = struct.pack("<HHIIHH", tag, 1, rate, rate * block_align, block_align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    body = b"WAVE" + chunks
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_media_bombs_and_unsupported_encodings_are_refused_at_upload(cluster: LocalCluster) -> None:
    async def scenario(client: httpx.AsyncClient, bus: RecordingBus) -> None:
        auth = bearer((await signup_and_login(client, bus, "owner@bombs.test"))["access_token"])

        async def upload(data: bytes) -> httpx.Response:
            return await client.post(
                f"{API}/prompts", headers=auth, files={"file": ("p.wav", data, "audio/wav")}
            )

        one_hz = await upload(raw_wav(1, 1, 1, 8, b"\x80" * 500))  # 544 bytes -> 8 MB at 8 kHz
        assert one_hz.status_code == 422, one_hz.text
        assert one_hz.headers["content-type"] == PROBLEM
        body = one_hz.json()
        assert body["type"].endswith("/audio-out-of-bounds") and "8000-48000 Hz" in body["detail"]
        assert body["max_seconds"] == 600

        long = await upload(raw_wav(1, 8000, 1, 8, b"\x80" * (8000 * 601)))
        assert long.status_code == 422 and "at most 10 minutes" in long.json()["detail"], long.text

        adpcm = await upload(raw_wav(0x0011, 8000, 256, 4, b"\x00" * 1024))
        assert adpcm.status_code == 415 and adpcm.headers["content-type"] == PROBLEM, adpcm.text
        assert "0x0011" in adpcm.json()["detail"]

        listed = await client.get(f"{API}/prompts", headers=auth)
        assert listed.status_code == 200 and listed.json()["items"] == []  # nothing was stored

    run(cluster, scenario)
