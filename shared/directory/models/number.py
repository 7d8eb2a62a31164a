"""Phone numbers (DIDs) owned by a tenant. Stored at `t/{tenant_id}/number/{e164}`, indexed
globally by `idx/number/{e164}` -> tenant id."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.values import (
    E164,
    EntryPoint,
    Id,
    InputModel,
    OutputModel,
    PatchModel,
    StoredModel,
    UtcDatetime,
)


class Number(StoredModel):
    """`entry=None` means: follow the tenant's business hours (`open_entry`/`closed_entry`)."""

    number: E164
    tenant_id: Id
    entry: EntryPoint | None = None
    label: str | None = Field(default=None, max_length=100)
    created_at: UtcDatetime


class NumberCreate(InputModel):
    number: E164
    entry: EntryPoint | None = None
    label: str | None = Field(default=None, max_length=100)


class NumberUpdate(PatchModel):
    _nullable: ClassVar[frozenset[str]] = frozenset({"entry", "label"})

    entry: EntryPoint | None = None
    label: str | None = Field(default=None, max_length=100)


class NumberOut(OutputModel):
    number: str
    tenant_id: str
    entry: EntryPoint | None
    label: str | None = None
    created_at: UtcDatetime
