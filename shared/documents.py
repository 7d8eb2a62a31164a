"""Value types of the typed-document repository (`shared.ports.DocumentRepo`).

A document is a pydantic model stored as JSON under one key; its revision is the store's
revision of that key, so updates can be conditional (an HTTP `If-Match`). Pure: no I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Versioned(Generic[M]):
    """A document with the revision it was read (or written) at."""

    doc: M
    revision: int


@dataclass
class IndexChanges:
    """Index keys to claim (must be absent), to release, and to overwrite; `expect` names keys whose
    revision must still be the one read (0: absent) for the write to happen."""

    claim: dict[str, Any] = field(default_factory=dict)
    release: list[str] = field(default_factory=list)
    put: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, int] = field(default_factory=dict)
