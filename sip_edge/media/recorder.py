"""Recorders: sinks for the media engine's taps (`ports.RxSink`), producing 8 kHz mono
16-bit WAV bytes.

`VoicemailRecorder` records what the caller says, up to `max_s` (180 s). It ends on

- ``stop()`` - the orchestrator calls it when the caller presses ``#`` (reason DIGIT),
- hang-up: the engine calls ``ended()`` when the leg goes, or the orchestrator calls
  ``stop(StopReason.HANGUP)`` (reason HANGUP),
- `silence_s` (10 s) of silence (reason SILENCE),
- the maximum length (reason MAX_DURATION).

Trailing silence is trimmed (a short `tail_s` is kept so the last word is not clipped), and
a result shorter than `min_s` (1 s) is discarded: its ``wav`` is None.

`CallRecorder` collects a bridge's mixed audio (both directions) until the bridge ends.

Both are awaitable (``await recorder``) and have ``result(timeout)``; ``feed``/``ended``
run on the pacing thread and only append and compare, so they stay cheap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import threading
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

from . import dsp

OUT_RATE = 8000
_BPS = OUT_RATE * 2  # bytes per second at the output rate
_FRAME = dsp.frame_bytes(OUT_RATE)  # 20 ms analysis frames


class StopReason(enum.Enum):
    DIGIT = "digit"  # '#' (or any stop the orchestrator asks for)
    HANGUP = "hangup"
    SILENCE = "silence"
    MAX_DURATION = "max_duration"


@dataclass(frozen=True)
class VoicemailRecording:
    wav: bytes | None  # None: discarded (shorter than the minimum)
    duration_s: float  # after trimming trailing silence
    reason: StopReason

    @property
    def discarded(self) -> bool:
        return self.wav is None


class _Awaitable:
    future: concurrent.futures.Future[Any]

    def done(self) -> bool:
        return self.future.done()

    def __await__(self) -> Generator[Any, None, Any]:
        return asyncio.wrap_future(self.future).__await__()


class VoicemailRecorder(_Awaitable):
    def __init__(
        self,
        *,
        max_s: float = 180.0,
        silence_s: float = 10.0,
        min_s: float = 1.0,
        silence_rms: float = dsp.DEFAULT_SILENCE_RMS,
        tail_s: float = 0.3,
    ) -> None:
        self.max_bytes = int(max_s * OUT_RATE) * 2
        self.silence_bytes = int(silence_s * OUT_RATE) * 2
        self.min_s = min_s
        self.silence_rms = silence_rms
        self.tail_bytes = int(tail_s * OUT_RATE) * 2
        self.future: concurrent.futures.Future[VoicemailRecording] = concurrent.futures.Future()
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._analysed = 0  # bytes of _buf already split into analysis frames
        self._voice_end = 0  # end of the last frame that was not silent
        self._resampler: dsp.Resampler | None = None

    # -- RxSink (pacing thread)

    def feed(self, pcm: bytes, rate: int) -> None:
        with self._lock:
            if self.future.done():
                return
            if rate != OUT_RATE:
                if self._resampler is None or self._resampler.src_rate != rate:
                    self._resampler = dsp.Resampler(rate, OUT_RATE)
                pcm = self._resampler.process(pcm)
            self._buf += pcm
            while len(self._buf) - self._analysed >= _FRAME:
                start = self._analysed
                self._analysed += _FRAME
                if not dsp.is_silent(bytes(self._buf[start : self._analysed]), self.silence_rms):
                    self._voice_end = self._analysed
                if self._analysed - self._voice_end >= self.silence_bytes:
                    self._finish(StopReason.SILENCE)
                    return
            if len(self._buf) >= self.max_bytes:
                del self._buf[self.max_bytes :]
                self._finish(StopReason.MAX_DURATION)

    def ended(self, reason: str) -> None:
        self.stop(StopReason.HANGUP)

    # -- control (any thread)

    def stop(self, reason: StopReason = StopReason.DIGIT) -> None:
        with self._lock:
            if not self.future.done():
                self._finish(reason)

    def result(self, timeout: float | None = None) -> VoicemailRecording:
        return self.future.result(timeout)

    @property
    def recorded_s(self) -> float:
        return len(self._buf) / _BPS

    def _finish(self, reason: StopReason) -> None:
        if self._analysed < len(self._buf) and not dsp.is_silent(
            bytes(self._buf[self._analysed :]), self.silence_rms
        ):
            self._voice_end = len(self._buf)  # the last partial frame holds voice
        end = min(len(self._buf), self._voice_end + self.tail_bytes) if self._voice_end else 0
        end &= ~1
        duration = end / _BPS
        wav = dsp.wav_bytes(bytes(self._buf[:end]), OUT_RATE) if duration >= self.min_s else None
        self._buf = bytearray()
        self.future.set_result(VoicemailRecording(wav, duration, reason))


@dataclass(frozen=True)
class CallRecording:
    wav: bytes
    duration_s: float
    end_reason: str


class CallRecorder(_Awaitable):
    """Collects the mixed audio of a bridge (``engine.bridge(a, b, mix_sink=CallRecorder())``)
    until the bridge ends or ``stop()``; at most `max_s` (audio beyond is dropped)."""

    def __init__(self, *, max_s: float = 4 * 3600.0) -> None:
        self.max_bytes = int(max_s * OUT_RATE) * 2
        self.future: concurrent.futures.Future[CallRecording] = concurrent.futures.Future()
        self._lock = threading.Lock()
        self._buf = bytearray()
        self._resampler: dsp.Resampler | None = None

    def feed(self, pcm: bytes, rate: int) -> None:
        with self._lock:
            if self.future.done() or len(self._buf) >= self.max_bytes:
                return
            if rate != OUT_RATE:
                if self._resampler is None or self._resampler.src_rate != rate:
                    self._resampler = dsp.Resampler(rate, OUT_RATE)
                pcm = self._resampler.process(pcm)
            self._buf += pcm[: self.max_bytes - len(self._buf)]

    def ended(self, reason: str) -> None:
        self.stop(reason)

    def stop(self, reason: str = "stopped") -> None:
        with self._lock:
            if self.future.done():
                return
            pcm = bytes(self._buf)
            self._buf = bytearray()
            self.future.set_result(CallRecording(dsp.wav_bytes(pcm, OUT_RATE), len(pcm) / _BPS, reason))

    def result(self, timeout: float | None = None) -> CallRecording:
        return self.future.result(timeout)
