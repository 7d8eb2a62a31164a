"""Time for the media engine's thread shell (`engine.MediaEngine`).

The pacing core (`core.MediaCore`) never reads a clock: it is handed the time. The shell
asks a `PacingClock` for it and for its waits, so that a test can run the real shell on
virtual time (`ManualClock`) and the production edge on `time.monotonic` (`MonotonicClock`).
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class PacingClock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    def wait(self, wake: threading.Event, timeout: float) -> bool:
        """Block until `wake` is set (True) or `timeout` seconds of this clock have passed
        (False). The shell sets `wake` when a command arrives; the caller clears it."""
        ...


class MonotonicClock:
    """The wall clock: `time.monotonic`, and waits on the event itself."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, wake: threading.Event, timeout: float) -> bool:
        return wake.wait(timeout)


class ManualClock:
    """Virtual time that moves only when told: ``advance(dt)`` / ``set(t)``.

    A thread waiting on it (the engine's pacing thread) wakes when the virtual time reaches
    its deadline or when its event is set, whatever the real time. ``advance`` and ``set``
    return once every such thread has done what the new time asks and is waiting again
    (`settle`), so a test that advances the clock then looks at the legs sees the work of
    that instant done. Single-threaded users (a test ticking a `MediaCore` itself) just read
    ``monotonic()``.
    """

    POLL_S = 0.0005  # real seconds between looks at a waiter's event (a set() notifies nobody)

    def __init__(self, start: float = 0.0, *, settle_timeout_s: float = 10.0) -> None:
        self._now = float(start)
        self._cond = threading.Condition()
        # per thread that waited on this clock: (deadline, its event) while waiting, else None
        self._waiters: dict[threading.Thread, tuple[float, threading.Event] | None] = {}
        self.settle_timeout_s = settle_timeout_s

    def monotonic(self) -> float:
        return self._now

    def wait(self, wake: threading.Event, timeout: float) -> bool:
        me = threading.current_thread()
        with self._cond:
            deadline = self._now + timeout
            self._waiters[me] = (deadline, wake)
            self._cond.notify_all()
            try:
                while True:
                    if wake.is_set():
                        return True
                    if self._now >= deadline:
                        return False
                    self._cond.wait(self.POLL_S)
            finally:
                self._waiters[me] = None

    def advance(self, seconds: float) -> float:
        """Move the time on by `seconds` and let waiting threads catch up; the new time."""
        if seconds < 0:
            raise ValueError("a monotonic clock does not go back")
        return self.set(self._now + seconds)

    def set(self, t: float) -> float:
        with self._cond:
            if t < self._now:
                raise ValueError("a monotonic clock does not go back")
            self._now = float(t)
            self._cond.notify_all()
        self.settle()
        return self._now

    def settle(self, *, waiters: int = 0) -> None:
        """Block until every live thread that waits on this clock is waiting again, for a
        later time and with its event clear (it has handled its commands and this instant),
        and at least `waiters` threads do (a thread just started has not waited yet)."""
        limit = time.monotonic() + self.settle_timeout_s
        with self._cond:
            while not self._settled() or self._live() < waiters:
                if time.monotonic() > limit:
                    raise TimeoutError("a thread waiting on the manual clock did not settle")
                self._cond.wait(self.POLL_S)

    def _live(self) -> int:
        return sum(1 for thread in self._waiters if thread.is_alive())

    def _settled(self) -> bool:
        for thread, waiting in self._waiters.items():
            if not thread.is_alive():
                continue
            if waiting is None:
                return False
            deadline, wake = waiting
            if deadline <= self._now or wake.is_set():
                return False
        return True
