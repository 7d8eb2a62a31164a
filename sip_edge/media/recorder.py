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

`CallRecorder` collects a bridge's mixed audio (both directions) until the bridge ends. Given a
`spool` path it keeps almost nothing in memory: the audio is appended to that WAV file by one
background thread (`_Flusher`), written and fsynced every `flush_s` (2 s) and at the end, when the
header's sizes are set. A crash then loses at most the last `flush_s` plus one flusher pass; the
header of a torn file is fixed from its size (`finalize_wav`) by the uploader on the next start.

Both are awaitable (``await recorder``) and have ``result(timeout)``; ``feed``/``ended``
run on the pacing thread and only append and compare, so they stay cheap.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import enum
import logging
import os
import struct
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from . import dsp

OUT_RATE = 8000
_BPS = OUT_RATE * 2  # bytes per second at the output rate
_FRAME = dsp.frame_bytes(OUT_RATE)  # 20 ms analysis frames
WAV_HEADER_BYTES = 44
FLUSH_S = 2.0  # a spooled recording is on disk (fsynced) at most this long after it was heard
_FLUSHER_TICK_S = 0.5

log = logging.getLogger("sip_edge.media.recorder")


def wav_header(data_bytes: int, rate: int = OUT_RATE) -> bytes:
    """The 44-byte header of a mono 16-bit PCM WAV holding `data_bytes` of samples."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        rate,
        rate * 2,
        2,
        16,
        b"data",
        data_bytes,
    )


def finalize_wav(path: Path, rate: int = OUT_RATE) -> float:
    """Fix a spooled WAV's header from the file's size (a torn file's header says 0 bytes):
    whole samples only, fsynced. Returns the audio's duration in seconds."""
    with open(path, "r+b") as f:
        size = os.fstat(f.fileno()).st_size
        data = max(0, size - WAV_HEADER_BYTES) & ~1
        f.truncate(WAV_HEADER_BYTES + data)
        f.seek(0)
        f.write(wav_header(data, rate))
        f.flush()
        os.fsync(f.fileno())
    return data / (rate * 2)


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
    wav: bytes | None  # the WAV in memory; None when it was spooled to `path`
    duration_s: float
    end_reason: str
    path: Path | None = None  # the finished WAV file (header set, fsynced)


class CallRecorder(_Awaitable):
    """Collects the mixed audio of a bridge (``engine.bridge(a, b, mix_sink=CallRecorder())``)
    until the bridge ends or ``stop()``; at most `max_s` (audio beyond is dropped). With `spool`,
    the audio goes to that file as it comes (see the module's docstring)."""

    def __init__(
        self, *, max_s: float = 4 * 3600.0, spool: Path | None = None, flush_s: float = FLUSH_S
    ) -> None:
        self.max_bytes = int(max_s * OUT_RATE) * 2
        self.future: concurrent.futures.Future[CallRecording] = concurrent.futures.Future()
        self._lock = threading.Lock()
        self._buf = bytearray()  # in memory, or waiting for the next flush to `spool`
        self._total = 0
        self._resampler: dsp.Resampler | None = None
        self.spool = spool
        self.flush_s = flush_s
        self._file: BinaryIO | None = None
        self._flushed_at = 0.0
        self._stopping: str | None = None
        if spool is not None:
            self._flushed_at = time.monotonic()
            spool.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(spool, "wb")  # noqa: SIM115 - closed by _finalize on the flusher thread
            self._file.write(wav_header(0))
            self._file.flush()
            os.fsync(self._file.fileno())
            _flusher().add(self)

    def feed(self, pcm: bytes, rate: int) -> None:
        with self._lock:
            if self.future.done() or self._stopping is not None or self._total >= self.max_bytes:
                return
            if rate != OUT_RATE:
                if self._resampler is None or self._resampler.src_rate != rate:
                    self._resampler = dsp.Resampler(rate, OUT_RATE)
                pcm = self._resampler.process(pcm)
            chunk = pcm[: self.max_bytes - self._total]
            self._buf += chunk
            self._total += len(chunk)

    def ended(self, reason: str) -> None:
        self.stop(reason)

    def stop(self, reason: str = "stopped") -> None:
        """End the recording. Spooled: the flusher thread writes the rest, sets the header and
        then resolves the result (cheap here: this runs on the pacing thread too)."""
        with self._lock:
            if self.future.done() or self._stopping is not None:
                return
            if self._file is None:
                pcm = bytes(self._buf)
                self._buf = bytearray()
                self.future.set_result(CallRecording(dsp.wav_bytes(pcm, OUT_RATE), len(pcm) / _BPS, reason))
                return
            self._stopping = reason
        _flusher().wake()

    def result(self, timeout: float | None = None) -> CallRecording:
        return self.future.result(timeout)

    # -- the flusher thread

    def _flush(self) -> None:
        with self._lock:
            data = bytes(self._buf)
            self._buf = bytearray()
        assert self._file is not None
        if data:
            self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())
        self._flushed_at = time.monotonic()

    def _finalize(self) -> None:
        assert self._file is not None and self.spool is not None and self._stopping is not None
        self._flush()
        self._file.close()
        duration = finalize_wav(self.spool)
        self.future.set_result(CallRecording(None, duration, self._stopping, self.spool))

    def _due(self, now: float) -> bool:
        return self._stopping is not None or now - self._flushed_at >= self.flush_s


class _Flusher:
    """The one thread that writes every spooled recording: off the pacing thread, so a slow disk
    never delays audio."""

    def __init__(self) -> None:
        self._recorders: set[CallRecorder] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recording-flusher", daemon=True)
        self._thread.start()

    def add(self, recorder: CallRecorder) -> None:
        with self._lock:
            self._recorders.add(recorder)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(_FLUSHER_TICK_S)
            self._wake.clear()
            now = time.monotonic()
            with self._lock:
                due = [r for r in self._recorders if r._due(now)]
            for recorder in due:
                try:
                    if recorder._stopping is not None:
                        with self._lock:
                            self._recorders.discard(recorder)
                        recorder._finalize()
                    else:
                        recorder._flush()
                except Exception as exc:  # a full disk must not stop the other recordings
                    log.error(
                        "recording spool failed",
                        extra={"event": "recording_spool_failed", "error": repr(exc)},
                    )
                    with self._lock:
                        self._recorders.discard(recorder)
                    if not recorder.future.done():
                        with contextlib.suppress(Exception):
                            recorder.future.set_exception(exc)


_FLUSHER: _Flusher | None = None
_FLUSHER_LOCK = threading.Lock()


def _flusher() -> _Flusher:
    global _FLUSHER
    with _FLUSHER_LOCK:
        if _FLUSHER is None:
            _FLUSHER = _Flusher()
        return _FLUSHER
