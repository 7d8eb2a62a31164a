"""The watch hub cuts off a listener whose queue is full, and counts every listener it cuts off."""

from __future__ import annotations

from configdb_nodes.watch import WatchHub


def test_a_full_listener_is_cut_off_and_counted_once() -> None:
    cut: list[int] = []
    hub = WatchHub(capacity=2, on_cut_off=cut.append)
    slow, other = hub.register("a/"), hub.register("b/")
    for rev in (1, 2, 3, 4):
        hub.notify(rev, [("put", "a/k", b"1")])
    assert slow.overflowed and slow.wake.is_set()
    assert slow not in hub.listeners and other in hub.listeners
    assert cut == [1]  # cut off at the third revision; the fourth no longer reaches it
    assert not other.overflowed


def test_cutting_off_everyone_counts_each_listener() -> None:
    cut: list[int] = []
    hub = WatchHub(on_cut_off=cut.append)
    listeners = [hub.register("") for _ in range(3)]
    hub.cut_off_all()
    assert all(listener.overflowed for listener in listeners)
    assert not hub.listeners and cut == [3]
    hub.cut_off_all()
    assert cut == [3]
