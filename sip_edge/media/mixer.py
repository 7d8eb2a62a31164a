"""The mix of a bridge's two directions (call recording), on the engine's clock.

Pure: the core pushes what each side received and pumps the mix at the time it is given;
no clock is read here.
"""

from __future__ import annotations

from . import dsp
from .ports import RxSink


class BridgeMixer:
    """Both directions of a bridge, mixed at `rate` on the engine clock, delayed by a
    jitter allowance so that chunks arriving a little late still line up. A side pushed at
    another rate is resampled to `rate` by its own continuous stream (the core pushes audio
    already at `rate`, from the bridge's streams); a side that has nothing at a due instant
    is silence there."""

    DELAY_S = 0.06
    MAX_FIFO_S = 0.3

    def __init__(self, sink: RxSink, rate: int) -> None:
        self.sink = sink
        self.rate = rate
        self.start: float | None = None  # when mixing starts (`begin`)
        self.emitted = 0  # samples
        self.fifos = [bytearray(), bytearray()]
        self.resamplers: list[dsp.Resampler | None] = [None, None]

    def begin(self, now: float) -> None:
        """The bridge is up at `now`: the mix starts a jitter allowance later."""
        self.start = now + self.DELAY_S

    def push(self, side: int, pcm: bytes, rate: int) -> None:
        rs = self.resamplers[side]
        if rate != self.rate:
            if rs is None or rs.src_rate != rate:
                rs = self.resamplers[side] = dsp.Resampler(rate, self.rate)
            pcm = rs.process(pcm)
        fifo = self.fifos[side]
        fifo += pcm
        cap = int(self.MAX_FIFO_S * self.rate) * 2
        if len(fifo) > cap:
            del fifo[: len(fifo) - cap]

    def pump(self, now: float) -> None:
        """Feed the sink every sample due by `now` (a whole number of samples per call)."""
        if self.start is None or now < self.start:
            return
        due = int((now - self.start) * self.rate) - self.emitted
        if due <= 0:
            return
        n = due * 2
        a, b = self.fifos
        mixed = dsp.mix(bytes(a[:n]), bytes(b[:n]))
        del a[:n], b[:n]
        if len(mixed) < n:
            mixed += bytes(n - len(mixed))
        self.emitted += due
        self.sink.feed(mixed, self.rate)
