"""The prompt cache: tenants' prompts from Blob `prompts`, kept on local disk and in memory.

``await cache.get(prompt_id, rate, tenant_id=tid)`` returns 16-bit mono PCM at `rate` (the
leg's negotiated rate). Lookup order: memory (per rate) -> the disk cache
(``{cache_dir}/{tenant}/{prompt}.wav``, 8 kHz mono) -> Blob ``prompts/{tenant}/{id}/pcm8k.wav``
(written by the functions' ``prompt_convert`` trigger). Prompt ids are immutable (a new
upload is a new id), so entries never go stale; ``invalidate`` drops one after a delete.
Concurrent gets of one prompt share a single download. Memory holds at most
`max_memory_bytes` of PCM (least recently used goes first); the disk cache is unbounded.

Without a tenant, `prompt_id` names a built-in prompt (`SystemPrompt`, e.g. "goodbye"),
served from the committed WAVs. `text_greeting(text, rate)` is the placeholder played for
a text greeting until a TTS service exists (see `system_prompts`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import re
from pathlib import Path

from shared.directory.services.prompts import CONTAINER, converted_blob
from shared.errors import NotFoundError, Unavailable
from shared.logs import log_event
from shared.media.audio import AudioError, to_pcm8k_wav
from shared.ports import BlobReader

from . import dsp
from .system_prompts import SystemPrompt
from .system_prompts import pcm as system_pcm

log = logging.getLogger("sip_edge.media.prompts")
BASE_RATE = 8000
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class PromptNotFound(LookupError):
    """No such prompt (not in Blob, or an unknown built-in name)."""


class PromptUnavailable(RuntimeError):
    """Blob storage could not be reached (or the blob is not decodable): play a fallback."""


def _event(event: str, **fields: object) -> None:
    log_event(log, event, **fields)


class PromptCache:
    def __init__(self, source: BlobReader, cache_dir: Path, *, max_memory_bytes: int = 64 << 20) -> None:
        self.source = source
        self.cache_dir = Path(cache_dir)
        self.max_memory_bytes = max_memory_bytes
        self._mem: collections.OrderedDict[tuple[str, str, int], bytes] = collections.OrderedDict()
        self._mem_bytes = 0
        self._inflight: dict[tuple[str, str], asyncio.Future[bytes]] = {}
        self.downloads = 0  # blob fetches made (for tests and metrics)

    # -- public

    async def get(self, prompt_id: str, rate: int = BASE_RATE, *, tenant_id: str | None = None) -> bytes:
        """PCM of a prompt at `rate`. Raises PromptNotFound / PromptUnavailable."""
        if tenant_id is None:
            return self.system(prompt_id, rate)
        for part in (tenant_id, prompt_id):
            if not _SAFE.fullmatch(part):
                raise PromptNotFound(f"invalid prompt reference {tenant_id!r}/{prompt_id!r}")
        hit = self._mem_get((tenant_id, prompt_id, rate))
        if hit is not None:
            return hit
        base = self._mem_get((tenant_id, prompt_id, BASE_RATE))
        if base is None:
            base = await self._load_base(tenant_id, prompt_id)
            self._mem_put((tenant_id, prompt_id, BASE_RATE), base)
        if rate == BASE_RATE:
            return base
        out = dsp.resample(base, BASE_RATE, rate)
        self._mem_put((tenant_id, prompt_id, rate), out)
        return out

    def system(self, name: str | SystemPrompt, rate: int = BASE_RATE) -> bytes:
        """A built-in prompt at `rate` (never touches the network)."""
        try:
            prompt = name if isinstance(name, SystemPrompt) else SystemPrompt(name)
        except ValueError as exc:
            raise PromptNotFound(f"no built-in prompt {name!r}") from exc
        key = ("", prompt.value, rate)
        hit = self._mem_get(key)
        if hit is None:
            hit = dsp.resample(system_pcm(prompt), BASE_RATE, rate)
            self._mem_put(key, hit)
        return hit

    def text_greeting(self, text: str, rate: int = BASE_RATE) -> bytes:
        """Placeholder for a text greeting: no TTS service exists yet, so a chime plays."""
        return self.system(SystemPrompt.TEXT_GREETING_PLACEHOLDER, rate)

    async def prefetch(self, tenant_id: str, prompt_ids: list[str]) -> None:
        """Warm the cache (e.g. after a menu changed); failures are logged, not raised."""
        for pid in prompt_ids:
            try:
                await self.get(pid, BASE_RATE, tenant_id=tenant_id)
            except (PromptNotFound, PromptUnavailable) as exc:
                _event("prompt_prefetch_failed", tenant=tenant_id, prompt=pid, reason=str(exc))

    def invalidate(self, tenant_id: str, prompt_id: str) -> None:
        for key in [k for k in self._mem if k[0] == tenant_id and k[1] == prompt_id]:
            self._mem_bytes -= len(self._mem.pop(key))
        if _SAFE.fullmatch(tenant_id) and _SAFE.fullmatch(prompt_id):
            self._disk_path(tenant_id, prompt_id).unlink(missing_ok=True)

    # -- internals

    def _disk_path(self, tenant_id: str, prompt_id: str) -> Path:
        return self.cache_dir / tenant_id / f"{prompt_id}.wav"

    def _mem_get(self, key: tuple[str, str, int]) -> bytes | None:
        hit = self._mem.get(key)
        if hit is not None:
            self._mem.move_to_end(key)
        return hit

    def _mem_put(self, key: tuple[str, str, int], pcm: bytes) -> None:
        if key in self._mem:
            self._mem_bytes -= len(self._mem.pop(key))
        self._mem[key] = pcm
        self._mem_bytes += len(pcm)
        while self._mem_bytes > self.max_memory_bytes and len(self._mem) > 1:
            _, old = self._mem.popitem(last=False)
            self._mem_bytes -= len(old)

    async def _load_base(self, tenant_id: str, prompt_id: str) -> bytes:
        key = (tenant_id, prompt_id)
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        try:
            pcm = await self._load_uncached(tenant_id, prompt_id)
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # consumed here; waiters re-raise it
            raise
        else:
            fut.set_result(pcm)
            return pcm
        finally:
            del self._inflight[key]

    async def _load_uncached(self, tenant_id: str, prompt_id: str) -> bytes:
        path = self._disk_path(tenant_id, prompt_id)
        disk = await asyncio.to_thread(_read_if_exists, path)
        if disk is not None:
            try:
                pcm, rate = dsp.read_wav(disk)
                return dsp.resample(pcm, rate, BASE_RATE)
            except ValueError:
                _event("prompt_cache_corrupt", tenant=tenant_id, prompt=prompt_id, path=str(path))
        try:
            self.downloads += 1
            data = await self.source.download(CONTAINER, converted_blob(tenant_id, prompt_id))
        except NotFoundError as exc:
            raise PromptNotFound(f"prompt {tenant_id}/{prompt_id} not found") from exc
        except Unavailable as exc:
            raise PromptUnavailable(str(exc)) from exc
        pcm = await asyncio.to_thread(_decode_8k, data)
        if pcm is None:
            raise PromptUnavailable(f"prompt {tenant_id}/{prompt_id} is not decodable audio")
        await asyncio.to_thread(_write_atomic, path, dsp.wav_bytes(pcm, BASE_RATE))
        _event("prompt_cached", tenant=tenant_id, prompt=prompt_id, seconds=round(len(pcm) / 16000, 2))
        return pcm


def _read_if_exists(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _decode_8k(data: bytes) -> bytes | None:
    """8 kHz mono PCM from a WAV: read directly when it already is one, else decoded and
    resampled by `shared.media.audio.to_pcm8k_wav`."""
    try:
        pcm, rate = dsp.read_wav(data)
        if rate == BASE_RATE:
            return pcm
    except ValueError:
        pass
    try:
        pcm, _ = dsp.read_wav(to_pcm8k_wav(data))
        return pcm
    except (AudioError, ValueError):
        return None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
