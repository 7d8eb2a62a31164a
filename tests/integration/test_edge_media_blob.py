"""The edge's prompt cache and spooling uploader against a real Azurite, which the test
stops and restarts to show that nothing recorded while Blob is down is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from infra.local.azurite import AZURITE_BIN, Azurite
from shared.adapters.blob_media import BlobMedia
from shared.directory.services.prompts import CONTAINER as PROMPTS
from shared.directory.services.prompts import converted_blob
from sip_edge.media import dsp
from sip_edge.media.prompts import PromptCache, PromptNotFound, PromptUnavailable
from sip_edge.media.uploader import (
    RECORDINGS_CONTAINER,
    VOICEMAIL_CONTAINER,
    SpoolingUploader,
    recording_blob_name,
    voicemail_blob_name,
)

pytestmark = pytest.mark.skipif(
    not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"
)

TENANT = "01J0TENANT0000000000000000"


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    az = Azurite(tmp_path_factory.mktemp("azurite") / "data")
    with az:
        yield az


def blobs(az: Azurite) -> BlobMedia:
    return BlobMedia(az.connection_string, retry_total=0)


def read_blob(az: Azurite, container: str, name: str) -> bytes:
    with BlobServiceClient.from_connection_string(az.connection_string) as svc:
        return svc.get_blob_client(container, name).download_blob().readall()


def put_prompt(az: Azurite, prompt_id: str, wav: bytes) -> None:
    with BlobServiceClient.from_connection_string(az.connection_string) as svc:
        if not svc.get_container_client(PROMPTS).exists():
            svc.create_container(PROMPTS)
        svc.get_blob_client(PROMPTS, converted_blob(TENANT, prompt_id)).upload_blob(wav, overwrite=True)


def test_prompt_cache_fetches_once_keeps_on_disk_and_resamples(azurite: Azurite, tmp_path: Path) -> None:
    pcm8k = dsp.tone(440, 700, 8000)
    put_prompt(azurite, "01J0PROMPT0000000000000001", dsp.wav_bytes(pcm8k, 8000))
    # An unconverted upload (16 kHz) is decoded and resampled through shared.media.audio.
    put_prompt(azurite, "01J0PROMPT0000000000000002", dsp.wav_bytes(dsp.tone(1000, 500, 16000), 16000))

    async def main() -> None:
        store = blobs(azurite)
        cache = PromptCache(store, tmp_path / "cache")
        got = await asyncio.gather(
            *[cache.get("01J0PROMPT0000000000000001", 8000, tenant_id=TENANT) for _ in range(5)]
        )
        assert all(g == pcm8k for g in got)
        assert cache.downloads == 1  # concurrent gets share one download
        wide = await cache.get("01J0PROMPT0000000000000001", 16000, tenant_id=TENANT)
        assert abs(len(wide) - 2 * len(pcm8k)) <= 4
        assert dsp.dominant_frequency(wide, 16000, [440, 1000]) == 440
        assert cache.downloads == 1
        disk = tmp_path / "cache" / TENANT / "01J0PROMPT0000000000000001.wav"
        assert dsp.read_wav(disk.read_bytes()) == (pcm8k, 8000)

        other = await cache.get("01J0PROMPT0000000000000002", 8000, tenant_id=TENANT)
        assert abs(len(other) - 500 * 16) <= 4 and dsp.dominant_frequency(other, 8000, [440, 1000]) == 1000

        # A new process with the same cache dir serves from disk, without Blob.
        fresh = PromptCache(store, tmp_path / "cache")
        assert await fresh.get("01J0PROMPT0000000000000001", 8000, tenant_id=TENANT) == pcm8k
        assert fresh.downloads == 0

        with pytest.raises(PromptNotFound):
            await cache.get("01J0PROMPT00000000000MISSING", 8000, tenant_id=TENANT)
        with pytest.raises(PromptNotFound):
            await cache.get("../../etc/passwd", 8000, tenant_id=TENANT)

        # Built-in prompts need neither Blob nor TTS.
        bye = await cache.get("goodbye", 16000)
        assert len(bye) > 16000 and not dsp.is_silent(bye)
        assert cache.text_greeting("Welcome to Acme", 8000)
        with pytest.raises(PromptNotFound):
            cache.system("no_such_prompt")
        await store.aclose()

    asyncio.run(main())


def test_uploads_are_spooled_while_blob_is_down_and_sent_when_it_returns(
    azurite: Azurite, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    wav_up = dsp.wav_bytes(dsp.tone(440, 1500, 8000), 8000)
    wav_down = dsp.wav_bytes(dsp.tone(1000, 2000, 8000), 8000)
    vm_up = voicemail_blob_name(TENANT, "user1", "vm-up")
    vm_down = voicemail_blob_name(TENANT, "user1", "vm-down")
    rec_down = recording_blob_name(TENANT, "call-42")

    async def main() -> None:
        store = blobs(azurite)
        up = SpoolingUploader(store, spool, retry_delay_s=0.05, retry_initial_s=0.2, retry_max_s=1.0)
        await up.start()
        assert await up.submit(VOICEMAIL_CONTAINER, vm_up, wav_up) is True
        assert up.pending() == [] and not any(spool.rglob("*.wav"))
        assert read_blob(azurite, VOICEMAIL_CONTAINER, vm_up) == wav_up

        await asyncio.to_thread(azurite.stop)
        assert await up.submit(VOICEMAIL_CONTAINER, vm_down, wav_down) is False
        assert await up.submit(RECORDINGS_CONTAINER, rec_down, wav_up) is False
        assert sorted(up.pending()) == [(RECORDINGS_CONTAINER, rec_down), (VOICEMAIL_CONTAINER, vm_down)]
        assert (spool / VOICEMAIL_CONTAINER / vm_down).read_bytes() == wav_down
        # The prompt cache reports the outage instead of hanging.
        with pytest.raises(PromptUnavailable):
            await PromptCache(store, tmp_path / "cache").get("01J0PROMPT0000000000000009", tenant_id=TENANT)
        await asyncio.sleep(0.5)  # the retry loop keeps failing meanwhile; files stay
        assert len(up.pending()) == 2

        # Started from this (the main) thread on purpose: ManagedProcess children get
        # PR_SET_PDEATHSIG, which fires when the *thread* that forked them exits.
        azurite.start()
        for _ in range(100):
            if not up.pending():
                break
            await asyncio.sleep(0.1)
        assert up.pending() == []
        assert not any(p.is_file() for p in spool.rglob("*"))
        await up.stop()
        await store.aclose()

    asyncio.run(main())
    assert read_blob(azurite, VOICEMAIL_CONTAINER, vm_down) == wav_down
    assert read_blob(azurite, RECORDINGS_CONTAINER, rec_down) == wav_up


def test_files_left_by_an_earlier_run_are_uploaded_at_start(azurite: Azurite, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    name = voicemail_blob_name(TENANT, "user2", "left-over")
    wav = dsp.wav_bytes(dsp.tone(440, 1200, 8000), 8000)
    (spool / VOICEMAIL_CONTAINER / TENANT / "user2").mkdir(parents=True)
    (spool / VOICEMAIL_CONTAINER / name).write_bytes(wav)
    (spool / VOICEMAIL_CONTAINER / TENANT / "user2" / "torn.wav.123.part").write_bytes(b"half")

    async def main() -> None:
        store = blobs(azurite)
        up = SpoolingUploader(store, spool, retry_initial_s=0.2)
        assert up.pending() == [(VOICEMAIL_CONTAINER, name)]  # a torn .part write is not a file to send
        await up.start()
        for _ in range(50):
            if not up.pending():
                break
            await asyncio.sleep(0.1)
        assert up.pending() == [] and up.uploaded == 1
        await up.stop()
        with pytest.raises(ValueError):
            await up.submit(VOICEMAIL_CONTAINER, "../escape.wav", wav)
        await store.aclose()

    asyncio.run(main())
    assert read_blob(azurite, VOICEMAIL_CONTAINER, name) == wav


def test_a_submit_that_meets_the_retry_loop_on_the_same_file_reports_its_upload(
    azurite: Azurite, tmp_path: Path
) -> None:
    """The retry loop's first pass and a submit can pick up the same spooled file; the one
    that finds it in flight waits for that upload instead of reporting a failure."""
    spool = tmp_path / "spool"
    name = voicemail_blob_name(TENANT, "user3", "raced")
    wav = dsp.wav_bytes(dsp.tone(440, 4000, 8000), 8000)
    (spool / VOICEMAIL_CONTAINER / TENANT / "user3").mkdir(parents=True)
    (spool / VOICEMAIL_CONTAINER / name).write_bytes(wav)

    async def main() -> None:
        store = blobs(azurite)
        up = SpoolingUploader(store, spool, attempts=1, retry_delay_s=0.0)
        await up.start()
        await asyncio.sleep(0)  # the loop's first pass takes the left-over file in flight
        assert await up.submit(VOICEMAIL_CONTAINER, name, wav) is True
        assert up.pending() == [] and up.uploaded == 1 and up.failures == 0
        await up.stop()
        await store.aclose()

    asyncio.run(main())
    assert read_blob(azurite, VOICEMAIL_CONTAINER, name) == wav
