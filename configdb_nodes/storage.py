"""The state machine's LevelDB (plyvel) layout.

One database, namespaced by a one-byte prefix:
  k<key>                 -> msgpack [value JSON bytes, mod revision]
  m                      -> msgpack [applied index, applied term, revision, compact revision]
  h<revision:8 BE>       -> msgpack [[type, key, value JSON bytes | None], ...]   (watch history)
  q<request id>          -> encoded Result        (idempotent retries)
  Q<index:8 BE><rid>     -> b""                   (dedup records by age, for pruning)

The applied index lives in the same WriteBatch as the data it covers, so replaying the
Raft log after a crash is idempotent. Writes are not synced here: the Raft log is the
durable record; `sync()` flushes before the Raft log is compacted.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgpack
import plyvel

_META = b"m"
_U64 = struct.Struct(">Q")


@dataclass(slots=True)
class Meta:
    applied_index: int = 0
    applied_term: int = 0
    revision: int = 0
    compact_revision: int = 0

    def encode(self) -> bytes:
        return msgpack.packb([self.applied_index, self.applied_term, self.revision, self.compact_revision])


Event = tuple[str, str, bytes | None]  # (type "put"|"delete", key, value JSON bytes)


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix`."""
    stripped = prefix.rstrip(b"\xff")
    return stripped[:-1] + bytes([stripped[-1] + 1]) if stripped else b"\xff" * 8


def history_key(revision: int) -> bytes:
    return b"h" + _U64.pack(revision)


def dedup_age_key(index: int, rid: str) -> bytes:
    return b"Q" + _U64.pack(index) + rid.encode()


class DataStore:
    """Key-value state, watch history and dedup records of one node."""

    def __init__(self, path: str) -> None:
        self.db = plyvel.DB(path, create_if_missing=True)
        raw = self.db.get(_META)
        self.meta = Meta(*msgpack.unpackb(raw)) if raw else Meta()

    def close(self) -> None:
        self.db.close()

    # ---- reads ------------------------------------------------------------------------
    def get(self, key: bytes, snapshot: Any = None) -> tuple[bytes, int] | None:
        raw = (snapshot or self.db).get(b"k" + key)
        if raw is None:
            return None
        value, rev = msgpack.unpackb(raw)
        return value, rev

    def scan(
        self, prefix: bytes, after: bytes | None = None, snapshot: Any = None
    ) -> Iterator[tuple[bytes, bytes, int]]:
        """(key, value JSON, revision) in key order, keys starting with prefix, > after."""
        source = snapshot or self.db
        start = b"k" + (after + b"\x00" if after is not None and after >= prefix else prefix)
        for k, raw in source.iterator(start=start, stop=prefix_end(b"k" + prefix)):
            value, rev = msgpack.unpackb(raw)
            yield k[1:], value, rev

    def history(self, from_revision: int, to_revision: int) -> Iterator[tuple[int, list[Event]]]:
        """Events of revisions in [from, to], in order. Revisions with no events are skipped."""
        for k, raw in self.db.iterator(start=history_key(from_revision), stop=history_key(to_revision + 1)):
            yield _U64.unpack(k[1:])[0], [tuple(e) for e in msgpack.unpackb(raw)]

    def dedup_result(self, rid: str) -> bytes | None:
        return self.db.get(b"q" + rid.encode())

    def snapshot(self) -> Any:
        return self.db.snapshot()

    # ---- writes -----------------------------------------------------------------------
    def write(self, batch_ops: list[tuple[bytes, bytes | None]], meta: Meta) -> None:
        """Apply puts (value bytes) and deletes (None) together with the new meta, atomically."""
        with self.db.write_batch() as wb:
            for k, v in batch_ops:
                if v is None:
                    wb.delete(k)
                else:
                    wb.put(k, v)
            wb.put(_META, meta.encode())
        self.meta = meta

    def sync(self) -> None:
        """Make every earlier write durable (one synced write flushes LevelDB's log)."""
        self.db.put(_META, self.meta.encode(), sync=True)

    def delete_range(self, start: bytes, stop: bytes) -> None:
        with self.db.write_batch() as wb:
            for k in self.db.iterator(start=start, stop=stop, include_value=False):
                wb.delete(k)

    # ---- raft snapshots ---------------------------------------------------------------
    def export_image(self) -> tuple[Meta, bytes]:
        """A consistent image of keys and dedup records (not history), for a lagging follower."""
        snap = self.db.snapshot()
        meta = Meta(*msgpack.unpackb(snap.get(_META))) if snap.get(_META) else Meta()
        pairs = [(k, v) for prefix in (b"k", b"q", b"Q") for k, v in snap.iterator(prefix=prefix)]
        return meta, msgpack.packb([meta.encode(), pairs], use_bin_type=True)

    def import_image(self, data: bytes) -> None:
        """Replace the whole state with an image from `export_image`, durably."""
        meta_raw, pairs = msgpack.unpackb(data, raw=False)
        meta = Meta(*msgpack.unpackb(meta_raw))
        meta.compact_revision = meta.revision  # history before the image is not known here
        with self.db.write_batch() as wb:
            for k in self.db.iterator(include_value=False):
                wb.delete(k)
        with self.db.write_batch(sync=True) as wb:
            for k, v in pairs:
                wb.put(k, v)
            wb.put(_META, meta.encode())
        self.meta = meta
