"""Durable Raft state in its own LevelDB: hard state, snapshot point and log entries.

  s         -> msgpack [term, vote, commit]
  p         -> msgpack [snapshot index, snapshot term]
  e<idx:8>  -> msgpack [term, data]

Every write that an acknowledgement or a vote depends on is synced (`sync=True`) before
the shell sends the messages of the same Ready that depend on it.
"""

from __future__ import annotations

import struct

import msgpack
import plyvel

from .types import Entry, HardState, SnapshotMeta

_U64 = struct.Struct(">Q")


def _ekey(index: int) -> bytes:
    return b"e" + _U64.pack(index)


class LogStore:
    def __init__(self, path: str) -> None:
        self.db = plyvel.DB(path, create_if_missing=True)

    def close(self) -> None:
        self.db.close()

    def load(self) -> tuple[HardState, SnapshotMeta, list[Entry]]:
        raw = self.db.get(b"s")
        hs = HardState(*msgpack.unpackb(raw)) if raw else HardState()
        raw = self.db.get(b"p")
        snap = SnapshotMeta(*msgpack.unpackb(raw)) if raw else SnapshotMeta()
        entries = []
        for k, v in self.db.iterator(start=_ekey(snap.index + 1), stop=b"f"):
            term, data = msgpack.unpackb(v)
            entries.append(Entry(term, _U64.unpack(k[1:])[0], data))
        return hs, snap, entries

    def save(self, hard_state: HardState | None, entries: list[Entry], sync: bool = True) -> None:
        """Persist entries (replacing any stored suffix from entries[0].index) and the hard state.

        `sync=False` only for a hard state whose term and vote are already stored: a later
        synced write (LevelDB's log is sequential) makes it durable too."""
        if hard_state is None and not entries:
            return
        with self.db.write_batch(sync=sync) as wb:
            if entries:
                last = entries[-1].index
                for k in self.db.iterator(start=_ekey(last + 1), stop=b"f", include_value=False):
                    wb.delete(k)
                for e in entries:
                    wb.put(_ekey(e.index), msgpack.packb([e.term, e.data], use_bin_type=True))
            if hard_state is not None:
                wb.put(b"s", msgpack.packb([hard_state.term, hard_state.vote, hard_state.commit]))

    def compact(self, meta: SnapshotMeta) -> None:
        """Drop entries up to meta.index and record the snapshot point."""
        with self.db.write_batch(sync=True) as wb:
            for k in self.db.iterator(start=b"e", stop=_ekey(meta.index + 1), include_value=False):
                wb.delete(k)
            wb.put(b"p", msgpack.packb([meta.index, meta.term]))

    def install_snapshot(self, meta: SnapshotMeta) -> None:
        """A snapshot replaced the state machine: every stored entry is obsolete."""
        with self.db.write_batch(sync=True) as wb:
            for k in self.db.iterator(prefix=b"e", include_value=False):
                wb.delete(k)
            wb.put(b"p", msgpack.packb([meta.index, meta.term]))

    def term_at(self, index: int) -> int | None:
        raw = self.db.get(_ekey(index))
        return msgpack.unpackb(raw)[0] if raw else None
