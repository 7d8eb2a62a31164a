"""An in-memory `AudioIO` that behaves like a leg's audio device on the wall clock.

For tests and the benchmark (no sockets). Transmit: written PCM enters a buffer that
drains at `rate` in real time (the stack's clock), at most `capacity_ms` is accepted
(``write`` returns what fits), and every time the buffer had run dry before a write
arrived, the gap is recorded (``gaps``: (when it ran dry, seconds of silence)).
``heard()`` rebuilds what the far end heard: the written audio with those gaps as silence.
Receive: ``read`` returns the frames of ``rx_source`` (looped) that are due by now, in
whole 20 ms frames, as a stack's jitter buffer would. ``hang_up()`` makes every method
raise, like an audio object whose call has ended; ``end_quietly()`` ends it the way the
SIP port's ``LegAudio`` does (rate 0, writes refused, nothing raises).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class AudioGone(ConnectionError):
    """The call ended: the audio object is no longer usable."""


@dataclass
class MemoryAudio:
    rate: int = 8000
    rx_source: bytes = b""  # looped; empty = nothing ever arrives
    capacity_ms: int = 200
    frame_ms: int = 20
    record_heard: bool = True
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._level = 0.0  # bytes buffered
        self._last = 0.0  # when _level was computed
        self._dry_at: float | None = None  # when the buffer last ran dry, until the next write
        self._written = 0
        self._heard = bytearray()
        self._rx_t0: float | None = None
        self._rx_sent = 0  # bytes of rx delivered
        self.writes: list[tuple[float, int]] = []
        self.gaps: list[tuple[float, float]] = []
        self.flushes = 0
        self.gone = False
        self.rejected_bytes = 0

    # -- AudioIO

    @property
    def sample_rate(self) -> int:
        if self.gone:
            raise AudioGone("call ended")
        return self.rate

    def _advance(self, now: float) -> None:
        """Advance the device clock to `now`; note when the buffer ran dry."""
        if self._level > 0:
            consumed = (now - self._last) * self.rate * 2
            if consumed >= self._level:
                self._dry_at = self._last + self._level / (self.rate * 2)
                self._level = 0.0
            else:
                self._level -= consumed
        self._last = now

    def write(self, pcm: bytes) -> int:
        now = self.clock()
        with self._lock:
            if self.gone:
                raise AudioGone("call ended")
            if self.rate <= 0:
                return 0
            self._advance(now)
            if self._level == 0 and self._dry_at is not None:
                gap = now - self._dry_at
                if gap > 0.001:
                    self.gaps.append((self._dry_at, gap))
                    if self.record_heard:
                        self._heard += bytes(int(gap * self.rate) * 2)
                self._dry_at = None
            room = max(0, int(self.capacity_ms * self.rate // 1000 * 2 - self._level))
            taken = min(room, len(pcm)) & ~1
            self.rejected_bytes += len(pcm) - taken
            self._level += taken
            self._written += taken
            if self.record_heard:
                self._heard += pcm[:taken]
            self.writes.append((now, taken))
            return taken

    def read(self, max_bytes: int) -> bytes:
        now = self.clock()
        with self._lock:
            if self.gone:
                raise AudioGone("call ended")
            if not self.rx_source or self.rate <= 0:
                return b""
            if self._rx_t0 is None:
                self._rx_t0 = now
                return b""
            frame = self.rate * self.frame_ms // 1000 * 2
            due = int((now - self._rx_t0) * self.rate * 2) // frame * frame - self._rx_sent
            n = min(due, max_bytes // frame * frame)
            if n <= 0:
                return b""
            src = self.rx_source
            start = self._rx_sent % len(src)
            out = bytearray()
            while len(out) < n:
                piece = src[start : start + n - len(out)]
                out += piece
                start = 0
            self._rx_sent += n
            return bytes(out)

    def flush_tx(self) -> None:
        with self._lock:
            if self.gone:
                raise AudioGone("call ended")
            self.flushes += 1
            self._advance(self.clock())
            if self.record_heard and self._level:
                del self._heard[len(self._heard) - int(self._level) & ~1 :]
            self._level = 0.0
            self._dry_at = None

    # -- test helpers

    def hang_up(self) -> None:
        self.gone = True

    def end_quietly(self) -> None:
        """End like the SIP port's LegAudio does: nothing raises, but ``sample_rate`` is 0,
        ``write`` takes nothing and ``read`` returns nothing."""
        self.rate = 0

    @property
    def written_bytes(self) -> int:
        return self._written

    def heard(self) -> bytes:
        """What the far end heard so far (written audio with gaps as silence)."""
        with self._lock:
            return bytes(self._heard)

    def buffered_ms(self) -> float:
        with self._lock:
            self._advance(self.clock())
            return self._level / (self.rate * 2) * 1000
