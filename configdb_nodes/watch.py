"""Live update listeners: one bounded queue each, never blocking the apply path.

The apply loop calls `notify` synchronously after each revision is written. A listener
whose queue is full is marked overflowed and dropped from the hub; its stream task then
tells the client why and closes (etcd moves such watchers to a victims group; we
disconnect them and the client resumes from its last revision).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from .storage import Event


@dataclass(eq=False)
class Listener:
    prefix: str
    capacity: int
    queue: asyncio.Queue[tuple[int, list[Event]]] = field(init=False)
    overflowed: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.capacity)


class WatchHub:
    def __init__(self, capacity: int = 10_000, on_cut_off: Callable[[int], None] | None = None) -> None:
        """`on_cut_off(n)` is told of every `n` listeners cut off (for the node's metrics)."""
        self.capacity = capacity
        self.listeners: set[Listener] = set()
        self.on_cut_off = on_cut_off or (lambda n: None)

    def register(self, prefix: str) -> Listener:
        listener = Listener(prefix, self.capacity)
        self.listeners.add(listener)
        return listener

    def unregister(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    def notify(self, revision: int, events: list[Event]) -> None:
        for listener in list(self.listeners):
            mine = [e for e in events if e[1].startswith(listener.prefix)] if listener.prefix else events
            if not mine:
                continue
            try:
                listener.queue.put_nowait((revision, mine))
            except asyncio.QueueFull:
                listener.overflowed = True
                listener.wake.set()
                self.listeners.discard(listener)
                self.on_cut_off(1)

    def cut_off_all(self) -> None:
        """Disconnect every listener (their history jumped): each resumes from its revision."""
        cut = list(self.listeners)
        for listener in cut:
            listener.overflowed = True
            listener.wake.set()
        self.listeners.clear()
        if cut:
            self.on_cut_off(len(cut))
