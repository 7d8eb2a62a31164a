"""Audio prompts (IVR greetings). Metadata lives in ConfigDB at `t/{tenant_id}/prompt/{id}`
(see shared.directory.services.prompts.prompt_key); the audio lives in Blob container `prompts`:

    {tenant_id}/{id}/original.{wav|mp3}   the upload, as received
    {tenant_id}/{id}/pcm8k.wav            8 kHz mono 16-bit PCM, written by the blob trigger
"""

from __future__ import annotations

import enum

from pydantic import Field

from shared.values import Id, OutputModel, StoredModel, UtcDatetime


class PromptStatus(enum.StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class AudioKind(enum.StrEnum):
    WAV = "wav"
    MP3 = "mp3"


PromptName = Field(min_length=1, max_length=100)


class Prompt(StoredModel):
    id: Id
    name: str = PromptName
    status: PromptStatus
    format: AudioKind
    size_bytes: int = Field(ge=0)
    reason: str | None = None  # why conversion failed
    duration_ms: int | None = Field(default=None, ge=0)  # of the converted audio
    created_at: UtcDatetime
    updated_at: UtcDatetime


class PromptOut(OutputModel):
    id: str
    name: str
    status: PromptStatus
    format: AudioKind
    size_bytes: int
    reason: str | None = None
    duration_ms: int | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class PromptList(OutputModel):
    items: list[PromptOut]
