"""The one place committed Raft entries change the state machine.

`Applier.apply(entry)` decodes the command, answers a retried request id with its first
result, checks compares, assigns the next revision, writes data + history + dedup record +
applied index in one WriteBatch, prunes old history and dedup records, and returns the
result plus the events for watchers.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgpack

from .commands import Command, Op, Result
from .raft.types import Entry
from .storage import DataStore, Event, Meta, dedup_age_key, history_key


@dataclass(frozen=True, slots=True)
class Applied:
    rid: str | None
    result: Result | None
    revision: int
    events: list[Event]


class Applier:
    def __init__(self, store: DataStore, history_retain: int, dedup_retain: int = 100_000) -> None:
        self.store = store
        self.history_retain = history_retain
        self.dedup_retain = dedup_retain

    def apply(self, entry: Entry) -> Applied:
        store = self.store
        meta = store.meta
        if entry.index <= meta.applied_index:  # replay after restart: already in the state
            return Applied(None, None, meta.revision, [])
        new_meta = Meta(entry.index, entry.term, meta.revision, meta.compact_revision)
        if not entry.data:  # a leader's no-op
            store.write([], new_meta)
            return Applied(None, None, meta.revision, [])

        cmd = Command.decode(entry.data)
        first = store.dedup_result(cmd.rid)
        if first is not None:
            store.write([], new_meta)
            return Applied(cmd.rid, Result.decode(first), meta.revision, [])

        result, ops = self._evaluate(cmd, meta.revision)
        writes: list[tuple[bytes, bytes | None]] = []
        events: list[Event] = []
        if ops:
            rev = meta.revision + 1
            new_meta.revision = rev
            for op in ops:
                kb = b"k" + op.key.encode()
                if op.value is None:
                    writes.append((kb, None))
                    events.append(("delete", op.key, None))
                else:
                    writes.append((kb, msgpack.packb([op.value, rev])))
                    events.append(("put", op.key, op.value))
            writes.append((history_key(rev), msgpack.packb([list(e) for e in events])))
            self._prune_history(new_meta, writes)
        writes.append((b"q" + cmd.rid.encode(), result.encode()))
        writes.append((dedup_age_key(entry.index, cmd.rid), b""))
        store.write(writes, new_meta)
        self._prune_dedup(entry.index)
        return Applied(cmd.rid, result, new_meta.revision, events)

    # ---- pure-ish evaluation over the current state -------------------------------------
    def _revision_of(self, key: str) -> int:
        got = self.store.get(key.encode())
        return got[1] if got else 0

    def _evaluate(self, cmd: Command, current: int) -> tuple[Result, list[Op]]:
        """Decide the outcome and the effective ops (deletes of absent keys dropped)."""
        failed = [(k, r) for k, r in cmd.compare if self._revision_of(k) != r]
        if cmd.kind in ("put", "delete"):
            op = cmd.success[0]
            key_rev = self._revision_of(op.key)
            if failed:
                return Result("compare_failed", key_rev, False), []
            if cmd.kind == "delete" and key_rev == 0:
                return Result("not_found", current, False), []
            return Result("ok", current + 1, True), [op]
        branch = cmd.failure if failed else cmd.success
        ops = self._effective(branch)
        return Result("ok", current + 1 if ops else current, not failed), ops

    def _effective(self, ops: list[Op]) -> list[Op]:
        """Last op per key wins; deleting an absent key changes nothing."""
        last: dict[str, Op] = {}
        for op in ops:
            last[op.key] = op
        exists: dict[str, bool] = {}
        out = []
        for op in last.values():
            if op.value is None:
                present = exists.setdefault(op.key, self.store.get(op.key.encode()) is not None)
                if not present:
                    continue
            out.append(op)
        return out

    def _prune_history(self, meta: Meta, writes: list[tuple[bytes, bytes | None]]) -> None:
        floor = meta.revision - self.history_retain
        if floor > meta.compact_revision:
            for rev in range(meta.compact_revision + 1, floor + 1):
                writes.append((history_key(rev), None))
            meta.compact_revision = floor

    def _prune_dedup(self, index: int) -> None:
        floor = index - self.dedup_retain
        if floor > 0 and index % 1000 == 0:
            old = list(self.store.db.iterator(start=b"Q", stop=dedup_age_key(floor, ""), include_value=False))
            if old:
                with self.store.db.write_batch() as wb:
                    for k in old:
                        wb.delete(k)
                        wb.delete(b"q" + k[9:])
