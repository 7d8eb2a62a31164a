"""The media engine: ONE pacing thread serves every leg of the process every 20 ms.

This module is the thread around the sans-I/O core (`core.MediaCore`, where pacing,
bridging and mixing are described): the thread reads its `PacingClock`, waits until the next
pass is due or a command arrives, and calls ``core.tick(now)``. The clock is injected
(`clock.MonotonicClock` by default), so tests run this very thread on virtual time
(`clock.ManualClock`).

Threading: public methods only append a command and wake the thread; the thread owns all
per-leg state. Sink callbacks and ``Playback`` completion run on the pacing thread, so
they must be quick; asyncio code awaits a `Playback` (bridged with
``loop.call_soon_threadsafe`` through `asyncio.wrap_future`) and `on_detached` callbacks
are delivered through ``loop.call_soon_threadsafe`` when the engine has a loop (given, or
the running one at ``start()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from .clock import MonotonicClock, PacingClock
from .core import (
    AudioIO,
    Bridge,
    EngineStats,
    MediaCore,
    MediaLeg,
    Playback,
    PlayOutcome,
    PlayResult,
    RxSink,
    TapHandle,
    call_now,
)

__all__ = [
    "AudioIO",
    "Bridge",
    "EngineStats",
    "MediaCore",
    "MediaEngine",
    "MediaLeg",
    "MonotonicClock",
    "PacingClock",
    "PlayOutcome",
    "PlayResult",
    "Playback",
    "RxSink",
    "TapHandle",
]

T = TypeVar("T")


class _OfCore(Generic[T]):
    """An engine attribute that is its core's (reading it on the class gives the core
    class's default)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: MediaEngine | None, owner: type | None = None) -> T:
        value: T = getattr(MediaCore if obj is None else obj.core, self.name)
        return value

    def __set__(self, obj: MediaEngine, value: T) -> None:
        setattr(obj.core, self.name, value)


class MediaEngine:
    BRIDGE_PRIME_S: _OfCore[float] = _OfCore()
    BRIDGE_MAX_S: _OfCore[float] = _OfCore()
    STALL_S: _OfCore[float] = _OfCore()

    def __init__(
        self,
        *,
        frame_ms: int = 20,
        lead_ms: int = 60,
        loop: asyncio.AbstractEventLoop | None = None,
        name: str = "media-pacer",
        clock: PacingClock | None = None,
    ) -> None:
        self._wake = threading.Event()
        self.core = MediaCore(
            frame_ms=frame_ms, lead_ms=lead_ms, deliver=self._deliver, on_command=self._wake.set
        )
        self.clock: PacingClock = clock or MonotonicClock()
        self.loop = loop
        self.name = name
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def frame_ms(self) -> int:
        return self.core.frame_ms

    @property
    def frame_s(self) -> float:
        return self.core.frame_s

    @property
    def lead_s(self) -> float:
        return self.core.lead_s

    @property
    def stats(self) -> EngineStats:
        return self.core.stats

    # -- lifecycle

    def start(self) -> None:
        if self._thread is not None:
            return
        if self.loop is None:
            with contextlib.suppress(RuntimeError):  # no loop in this thread: callbacks stay on ours
                self.loop = asyncio.get_running_loop()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; every leg is detached ("engine stopped")."""
        if self._thread is None:
            return
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> MediaEngine:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- public API (any thread)

    def attach(
        self,
        audio: AudioIO,
        *,
        leg_id: str | None = None,
        on_detached: Callable[[str], None] | None = None,
    ) -> MediaLeg:
        """Start serving `audio`. `on_detached(reason)` is called once when the leg goes
        (on the engine's loop if it has one, else on the pacing thread)."""
        return self.core.attach(audio, leg_id=leg_id, on_detached=on_detached)

    def bridge(
        self, a: MediaLeg, b: MediaLeg, *, mix_sink: RxSink | None = None, mix_rate: int = 8000
    ) -> Bridge:
        """Carry a's received audio to b and b's to a. With `mix_sink`, both directions are
        also mixed at `mix_rate` and fed to it (call recording)."""
        return self.core.bridge(a, b, mix_sink=mix_sink, mix_rate=mix_rate)

    @property
    def leg_count(self) -> int:
        return self.core.leg_count

    # -- the thread

    def _deliver(self, fn: Callable[[str], None], arg: str) -> None:
        loop = self.loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(fn, arg)
                return
            except RuntimeError:  # loop closed meanwhile
                pass
        call_now(fn, arg)

    def _run(self) -> None:
        clock, core = self.clock, self.core
        cpu0 = time.thread_time()
        try:
            while not self._stopping:
                now = clock.monotonic()
                wait = core.next_due(now) - now
                if wait > 0:
                    clock.wait(self._wake, wait)
                    self._wake.clear()
                    now = clock.monotonic()
                core.tick(now)
                core.stats.cpu_seconds = time.thread_time() - cpu0
        finally:
            core.close(clock.monotonic())
            core.stats.cpu_seconds = time.thread_time() - cpu0
