"""Commands carried in Raft entries, and their results (pure, msgpack-encoded).

A command is a dict: {"op": "put"|"delete"|"txn", "rid": request id, ...}.
Values travel as raw JSON bytes so the apply path never re-encodes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgpack


@dataclass(frozen=True, slots=True)
class Op:
    """One write inside a command: put when `value` is not None, else delete."""

    key: str
    value: bytes | None = None

    def to_wire(self) -> list[Any]:
        return [self.key, self.value]

    @classmethod
    def from_wire(cls, raw: list[Any]) -> Op:
        return cls(raw[0], raw[1])


@dataclass(frozen=True, slots=True)
class Command:
    """kind: "put" (one op, optional compare), "delete" (one op, must exist, optional compare), "txn"."""

    kind: str
    rid: str
    compare: list[tuple[str, int]] = field(default_factory=list)
    success: list[Op] = field(default_factory=list)
    failure: list[Op] = field(default_factory=list)

    def encode(self) -> bytes:
        return msgpack.packb(
            [
                self.kind,
                self.rid,
                [list(c) for c in self.compare],
                [o.to_wire() for o in self.success],
                [o.to_wire() for o in self.failure],
            ],
            use_bin_type=True,
        )

    @classmethod
    def decode(cls, data: bytes) -> Command:
        kind, rid, compare, success, failure = msgpack.unpackb(data, raw=False)
        return cls(
            kind,
            rid,
            [(k, r) for k, r in compare],
            [Op.from_wire(o) for o in success],
            [Op.from_wire(o) for o in failure],
        )


@dataclass(frozen=True, slots=True)
class Result:
    """What a command did. `status` is "ok", "compare_failed" or "not_found".

    For a txn, `succeeded` tells which branch ran. `revision` is the new revision when the
    command changed something, else the current one (for compare_failed on a single key: that
    key's own revision, 0 when absent).
    """

    status: str
    revision: int
    succeeded: bool = True

    def encode(self) -> bytes:
        return msgpack.packb([self.status, self.revision, self.succeeded])

    @classmethod
    def decode(cls, data: bytes) -> Result:
        status, revision, succeeded = msgpack.unpackb(data)
        return cls(status, revision, succeeded)
