"""The apply function over a real LevelDB: revisions, compares, dedup, history, replay."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from configdb_nodes.apply import Applier
from configdb_nodes.commands import Command, Op
from configdb_nodes.raft.types import Entry
from configdb_nodes.storage import DataStore


@pytest.fixture
def store(tmp_path: Path) -> DataStore:
    s = DataStore(str(tmp_path / "data"))
    yield s  # type: ignore[misc]
    s.close()


def put(rid: str, key: str, value: object, prev: int | None = None) -> Command:
    return Command("put", rid, [(key, prev)] if prev is not None else [], [Op(key, orjson.dumps(value))])


def test_revisions_compares_and_dedup(store: DataStore) -> None:
    a = Applier(store, history_retain=100)
    idx = iter(range(1, 100))

    def run(cmd: Command) -> object:
        return a.apply(Entry(1, next(idx), cmd.encode())).result

    assert run(put("r1", "k", 1)).revision == 1  # type: ignore[union-attr]
    assert a.apply(Entry(1, next(idx), b"")).revision == 1  # a no-op takes no revision
    failed = run(put("r2", "k", 2, prev=0))
    assert (failed.status, failed.revision) == ("compare_failed", 1)  # type: ignore[union-attr]
    assert run(put("r3", "k", 3, prev=1)).revision == 2  # type: ignore[union-attr]
    # a retried request id answers the first result and changes nothing
    assert run(put("r1", "k", 99)).revision == 1  # type: ignore[union-attr]
    assert store.get(b"k") == (b"3", 2)
    txn = Command("txn", "r4", [("k", 2)], [Op("a", b"1"), Op("b", b"2"), Op("gone", None)], [])
    res = run(txn)
    assert (res.succeeded, res.revision) == (True, 3)  # type: ignore[union-attr]
    assert [rev for rev, _ in store.history(1, 10)] == [1, 2, 3]
    assert next(iter(store.history(3, 3)))[1] == [("put", "a", b"1"), ("put", "b", b"2")]
    missing = run(Command("delete", "r5", [], [Op("nope", None)]))
    assert missing.status == "not_found"  # type: ignore[union-attr]


def test_replay_of_applied_entries_is_a_no_op(store: DataStore) -> None:
    a = Applier(store, history_retain=100)
    e = Entry(1, 1, put("x", "k", 1).encode())
    a.apply(e)
    again = a.apply(e)
    assert again.result is None and store.meta.revision == 1 and store.meta.applied_index == 1


def test_history_is_pruned_to_the_retained_window(store: DataStore) -> None:
    a = Applier(store, history_retain=5)
    for i in range(1, 21):
        a.apply(Entry(1, i, put(f"r{i}", f"k{i}", i).encode()))
    assert store.meta.compact_revision == 15
    assert [rev for rev, _ in store.history(1, 100)] == [16, 17, 18, 19, 20]


def test_image_round_trip(tmp_path: Path, store: DataStore) -> None:
    a = Applier(store, history_retain=100)
    for i in range(1, 6):
        a.apply(Entry(2, i, put(f"r{i}", f"k{i}", i).encode()))
    _meta, image = store.export_image()
    other = DataStore(str(tmp_path / "other"))
    other.import_image(image)
    assert [k for k, _, _ in other.scan(b"")] == [f"k{i}".encode() for i in range(1, 6)]
    assert (other.meta.applied_index, other.meta.revision, other.meta.compact_revision) == (5, 5, 5)
    assert other.dedup_result("r3") is not None
    other.close()
