"""Audio prompts: upload, convert, list, serve and delete, over ports.

- Metadata is a `Prompt` at `t/{tid}/prompt/{id}` (`prompt_key`); the audio lives in Blob
  container `prompts` at `{tid}/{id}/original.{ext}` and, once converted, `{tid}/{id}/pcm8k.wav`.
- `upload` sniffs the bytes (never the filename): WAV or MP3 only (`UnsupportedAudio`, 415),
  at most `MAX_UPLOAD_BYTES` (`PromptTooLarge`, 413). It probes the header without decoding:
  an encoding conversion does not take is 415; a sample rate outside 8-48 kHz or a duration
  over 10 minutes is `AudioOutOfBounds` (422). A tenant at its prompt count or stored-bytes
  quota gets `QuotaExceeded` (403). It writes the metadata ("processing")
  first and the original second, so the blob trigger always finds the document it updates.
- `convert_original` is the blob trigger's work. It ignores blobs that are not originals (the
  converted output must not re-trigger), marks undecodable audio "failed" with a reason instead
  of raising (a retry cannot heal it), and raises only on transient storage errors or
  `WorkerBusy` (503). It converts on the process's bounded worker (`shared.media.worker`), off
  the event loop; the decoded output is bounded to 10 minutes whatever the header said.
- `audio_url` is a read-only SAS URL valid for `AUDIO_URL_TTL`; `PromptNotReady` (409) before.
- Every key is built under the caller's tenant: another tenant's prompt is absent (404).
- Members read and upload; only owners and admins delete.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field

from shared.configdb_keys import prompt_prefix
from shared.directory.models.prompt import AudioKind, Prompt, PromptStatus
from shared.directory.models.quota import QuotaKind
from shared.directory.ports import PromptBlobs
from shared.directory.services.menus import require_manager
from shared.directory.services.quotas import QuotaGuard
from shared.documents import Versioned
from shared.errors import DomainError, NotFoundError, PreconditionFailed
from shared.logs import log_event
from shared.media import audio
from shared.media.audio import AudioError, probe, to_pcm8k_wav, wav_format
from shared.media.worker import CONVERSIONS, BoundedWorker
from shared.ports import Clock, DocumentRepo
from shared.security.tokens import Principal
from shared.values import is_id, new_ulid

log = logging.getLogger("services.prompts")

CONTAINER = "prompts"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
AUDIO_URL_TTL = dt.timedelta(minutes=5)
CONVERTED = "pcm8k.wav"
_CONTENT_TYPES = {AudioKind.WAV: "audio/wav", AudioKind.MP3: "audio/mpeg"}
_ORIGINAL = re.compile(r"^(?P<tenant>[^/]+)/(?P<id>[^/]+)/original\.(?P<ext>wav|mp3)$")
_UPDATE_ATTEMPTS = 5


class PromptTooLarge(DomainError):
    """413: the upload is over the limit."""

    status = 413
    error_id = "payload-too-large"
    title = "Payload too large"

    def __init__(self, limit: int, detail: str | None = None) -> None:
        detail = detail or f"a prompt may be at most {limit} bytes ({limit // (1024 * 1024)} MB)"
        super().__init__(detail, details={"limit": limit})
        self.limit = limit


class UnsupportedAudio(DomainError):
    """415: the upload is neither a WAV nor an MP3 (judged by its content)."""

    status = 415
    error_id = "unsupported-media-type"
    title = "Unsupported media type"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, details={"accepted": ["wav", "mp3"]})


class AudioOutOfBounds(DomainError):
    """422: readable audio whose sample rate, channels or duration is outside the limits."""

    status = 422
    error_id = "audio-out-of-bounds"
    title = "Audio out of bounds"

    def __init__(self, detail: str) -> None:
        super().__init__(
            detail,
            details={
                "min_sample_rate": audio.MIN_RATE,
                "max_sample_rate": audio.MAX_RATE,
                "max_seconds": audio.MAX_SECONDS,
            },
        )


class PromptNotReady(DomainError):
    """409: the prompt has no converted audio (still processing, or conversion failed)."""

    status = 409
    error_id = "prompt-not-ready"
    title = "Conflict"

    def __init__(self, prompt_status: PromptStatus) -> None:
        super().__init__(
            f"the prompt is {prompt_status.value}; its audio is not available",
            details={"status_of_prompt": prompt_status},
        )
        self.prompt_status = prompt_status


# --------------------------------------------------------------------------- keys and blob names


def prompt_key(tenant_id: str, prompt_id: str) -> str:
    if not is_id(prompt_id):
        raise ValueError(f"invalid prompt id for a ConfigDB key: {prompt_id!r}")
    return f"{prompt_prefix(tenant_id)}{prompt_id}"


def original_blob(tenant_id: str, prompt_id: str, kind: AudioKind) -> str:
    return f"{tenant_id}/{prompt_id}/original.{kind.value}"


def converted_blob(tenant_id: str, prompt_id: str) -> str:
    return f"{tenant_id}/{prompt_id}/{CONVERTED}"


def parse_original(blob_name: str) -> tuple[str, str] | None:
    """`{tid}/{id}/original.{wav|mp3}` (container-relative) -> (tid, id); None for anything else,
    including the converted output."""
    m = _ORIGINAL.fullmatch(blob_name)
    if m is None or not is_id(m.group("id")):
        return None
    return m.group("tenant"), m.group("id")


def existing_prompt_id(value: str) -> str:
    """A path id; anything that is not an id cannot exist (404)."""
    if not is_id(value):
        raise NotFoundError("prompt")
    return value


def default_name(filename: str | None, kind: AudioKind) -> str:
    stem = (filename or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1].strip()
    return (stem or f"prompt.{kind.value}")[:100]


# --------------------------------------------------------------------------- service


@dataclass
class PromptsService:
    repo: DocumentRepo
    media: PromptBlobs
    clock: Clock
    worker: BoundedWorker = field(default=CONVERSIONS)
    quotas: QuotaGuard | None = None

    async def list(self, who: Principal) -> list[Versioned[Prompt]]:
        return await self.repo.list(prompt_prefix(who.tenant_id), Prompt)

    async def get(self, who: Principal, prompt_id: str) -> Versioned[Prompt]:
        pid = existing_prompt_id(prompt_id)
        return await self.repo.require(prompt_key(who.tenant_id, pid), Prompt, "prompt")

    async def upload(
        self, who: Principal, data: bytes, name: str | None, filename: str | None
    ) -> Versioned[Prompt]:
        require_manager(who, "prompts")  # like delete: prompts are the tenant's IVR audio
        if len(data) > MAX_UPLOAD_BYTES:
            raise PromptTooLarge(MAX_UPLOAD_BYTES)
        try:
            info = probe(data)
        except audio.UnsupportedAudio as exc:
            raise UnsupportedAudio(f"the upload is not a WAV or MP3 file this service takes: {exc}") from exc
        except audio.AudioOutOfBounds as exc:
            raise AudioOutOfBounds(str(exc)) from exc
        kind = AudioKind(info.kind)
        if self.quotas is not None:
            await self.quotas.check(who.tenant_id, QuotaKind.PROMPTS)
            await self.quotas.check(who.tenant_id, QuotaKind.MEDIA_BYTES, adding=len(data))
        now = self.clock.now()
        prompt = Prompt(
            id=new_ulid(now),
            name=(name.strip() if name and name.strip() else default_name(filename, kind)),
            status=PromptStatus.PROCESSING,
            format=kind,
            size_bytes=len(data),
            created_at=now,
            updated_at=now,
        )
        key = prompt_key(who.tenant_id, prompt.id)
        revision = await self.repo.create(key, prompt)
        try:
            await self.media.upload(
                CONTAINER, original_blob(who.tenant_id, prompt.id, kind), data, _CONTENT_TYPES[kind]
            )
        except DomainError:
            await self.repo.delete(key, revision)  # nothing half-made is left behind
            raise
        return Versioned(prompt, revision)

    async def audio_url(self, who: Principal, prompt_id: str) -> str:
        got = await self.get(who, prompt_id)
        if got.doc.status is not PromptStatus.READY:
            raise PromptNotReady(got.doc.status)
        name = converted_blob(who.tenant_id, got.doc.id)
        return self.media.read_url(CONTAINER, name, now=self.clock.now(), ttl=AUDIO_URL_TTL)

    async def delete(self, who: Principal, prompt_id: str) -> None:
        require_manager(who, "prompts")
        got = await self.get(who, prompt_id)
        await self.repo.delete(prompt_key(who.tenant_id, got.doc.id), got.revision)
        await self.media.delete_prefix(CONTAINER, f"{who.tenant_id}/{got.doc.id}/")

    # ----------------------------------------------------------------------- blob trigger

    async def convert_original(self, blob_name: str, data: bytes) -> PromptStatus | None:
        """Convert one uploaded original (container-relative name). Returns the prompt's new
        status, or None when the blob is not an original or its prompt no longer exists."""
        parsed = parse_original(blob_name)
        if parsed is None:
            return None
        tenant_id, prompt_id = parsed
        key = prompt_key(tenant_id, prompt_id)
        if await self.repo.get(key, Prompt) is None:
            log_event(log, "prompt_gone", tenant_id=tenant_id, prompt_id=prompt_id, blob=blob_name)
            return None
        try:
            converted = await self.worker.run(to_pcm8k_wav, data)
        except AudioError as exc:
            await self._mark(key, PromptStatus.FAILED, reason=str(exc))
            return PromptStatus.FAILED
        await self.media.upload(CONTAINER, converted_blob(tenant_id, prompt_id), converted, "audio/wav")
        duration_ms = round(wav_format(converted).duration * 1000)
        marked = await self._mark(key, PromptStatus.READY, duration_ms=duration_ms)
        if not marked:  # deleted while converting: do not leave its audio behind
            await self.media.delete_prefix(CONTAINER, f"{tenant_id}/{prompt_id}/")
            return None
        return PromptStatus.READY

    async def _mark(
        self, key: str, status: PromptStatus, *, reason: str | None = None, duration_ms: int | None = None
    ) -> bool:
        """Set the status (bounded retries on concurrent edits); False if the prompt is gone."""
        for _ in range(_UPDATE_ATTEMPTS):
            got = await self.repo.get(key, Prompt)
            if got is None:
                return False
            doc = got.doc.model_copy(
                update={
                    "status": status,
                    "reason": reason,
                    "duration_ms": duration_ms,
                    "updated_at": self.clock.now(),
                }
            )
            try:
                await self.repo.update(key, doc, got.revision)
                return True
            except PreconditionFailed:
                continue
            except NotFoundError:
                return False
        raise PreconditionFailed(key, -1)
