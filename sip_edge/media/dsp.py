"""DSP helpers over 16-bit signed little-endian mono PCM bytes (pure, no I/O).

The sample work is vectorised: numpy int16 arrays for levels, mixing and tone synthesis,
libsoxr (``soxr``) for every change of sample rate. The byte-level functions are what the
engine, the recorders and the tools call; `as_array`/`from_array` cross to numpy.

- tones: `tone(freq, ms, rate)`, `silence(ms, rate)`, `beep(rate)`, `tone_sequence(...)`
- analysis: `rms`, `dbfs`, `is_silent`, `frame_rms`, `tone_power` (one DFT bin, as
  Goertzel), `dominant_frequency` (among candidates), `strongest_frequencies` (a scan)
- rates: `resample(pcm, src, dst)` for whole buffers (soxr HQ, linear phase), `Resampler`
  for a continuous stream fed in chunks (a soxr stream; see there for its delay)
- `mix(a, b)`: saturating add of two streams; `gain(pcm, factor)`
- `wav_bytes(pcm, rate)` / `read_wav(data) -> (pcm, rate)` (stdlib `wave`)
"""

from __future__ import annotations

import array
import functools
import io
import math
import sys
import wave
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import soxr

SAMPLE_WIDTH = 2  # bytes: 16-bit
MAX_SAMPLE = 32767
MIN_SAMPLE = -32768
FRAME_MS = 20
FULL_SCALE = 32768.0
_BIG_ENDIAN = sys.byteorder == "big"
_LE16 = np.dtype("<i2")

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- conversions


def as_array(pcm: bytes | bytearray | memoryview) -> Int16Array:
    """The PCM bytes as a read-only int16 array, without copying (an odd trailing byte is
    dropped)."""
    n = len(pcm) // SAMPLE_WIDTH
    return np.frombuffer(pcm, dtype=_LE16, count=n)


def from_array(x: npt.ArrayLike) -> bytes:
    """Samples already in the int16 range -> little-endian PCM bytes."""
    return np.asarray(x).astype(_LE16, copy=False).tobytes()


def saturate(x: npt.NDArray[np.integer] | FloatArray) -> Int16Array:
    """Clip to the int16 range (floats are truncated toward zero, like ``int()``)."""
    return np.clip(x, MIN_SAMPLE, MAX_SAMPLE).astype(_LE16)


def _pcm_of(x: npt.NDArray[np.int32] | npt.NDArray[np.float32]) -> bytes:
    """Clip `x` to the int16 range in place, then its PCM bytes (the hot-path `saturate`:
    two ufuncs cost less than ``np.clip``'s dispatch on a 20 ms frame)."""
    np.minimum(x, MAX_SAMPLE, out=x)
    np.maximum(x, MIN_SAMPLE, out=x)
    return x.astype(_LE16).tobytes()


def samples(pcm: bytes) -> array.array[int]:
    """The PCM bytes as an array of signed 16-bit ints (an odd trailing byte is dropped)."""
    a = array.array("h")
    a.frombytes(pcm[: len(pcm) - (len(pcm) & 1)])
    if _BIG_ENDIAN:  # pragma: no cover - little-endian hosts only here
        a.byteswap()
    return a


def to_bytes(a: array.array[int] | Sequence[int] | npt.NDArray[np.integer]) -> bytes:
    """Signed 16-bit ints (already in range) -> little-endian PCM bytes."""
    if isinstance(a, array.array) and not _BIG_ENDIAN:
        return a.tobytes()
    return from_array(np.asarray(a, dtype=np.int64))


def frame_bytes(rate: int, ms: int = FRAME_MS) -> int:
    """Bytes in `ms` of mono 16-bit PCM at `rate`."""
    return rate * ms // 1000 * SAMPLE_WIDTH


def duration_ms(pcm: bytes, rate: int) -> float:
    return len(pcm) / SAMPLE_WIDTH / rate * 1000.0 if rate else 0.0


# --------------------------------------------------------------------------- generation


def silence(ms: float, rate: int) -> bytes:
    return bytes(int(rate * ms / 1000) * SAMPLE_WIDTH)


def tone(
    freq: float | Iterable[float], ms: float, rate: int, amplitude: float = 0.3, *, ramp_ms: float = 5.0
) -> bytes:
    """A sine (or the sum of several, e.g. a dual tone) at `amplitude` of full scale (0-1),
    with short linear fade-in/out ramps so it starts and stops without a click."""
    freqs = [float(freq)] if isinstance(freq, int | float) else [float(f) for f in freq]
    n = int(rate * ms / 1000)
    peak = MAX_SAMPLE * max(0.0, min(1.0, amplitude)) / max(1, len(freqs))
    i = np.arange(n, dtype=np.float64)
    v = np.zeros(n)
    for f in freqs:
        v += np.sin((2 * math.pi * f / rate) * i)
    v *= peak
    ramp = max(1, int(rate * ramp_ms / 1000)) if ramp_ms > 0 else 0
    if ramp and n:
        edge = np.minimum(i, n - 1 - i)
        v *= np.where(edge < ramp, edge / ramp, 1.0)
    return from_array(v.astype(np.int16))


def tone_sequence(
    parts: Iterable[tuple[float | Sequence[float], float]], rate: int, amplitude: float = 0.3
) -> bytes:
    """Concatenate (frequency or frequencies, ms) parts; a frequency of 0 is silence."""
    chunks = []
    for freq, ms in parts:
        if freq == 0 or (not isinstance(freq, int | float) and not freq):
            chunks.append(silence(ms, rate))
        else:
            chunks.append(tone(freq, ms, rate, amplitude))
    return b"".join(chunks)


def beep(rate: int = 8000, *, freq: float = 1000.0, ms: float = 400.0, amplitude: float = 0.35) -> bytes:
    """The voicemail "record after the tone" beep: a 1 kHz tone, 400 ms."""
    return tone(freq, ms, rate, amplitude)


# --------------------------------------------------------------------------- analysis


def _power(x: Int16Array) -> float:
    """Mean square of the samples (0 for none)."""
    if not x.size:
        return 0.0
    xf = x.astype(np.float64)
    return float(np.dot(xf, xf)) / x.size


def rms(pcm: bytes) -> float:
    """Root mean square of the samples (0 for empty input), in sample units (0-32768)."""
    return math.sqrt(_power(as_array(pcm)))


def frame_rms(pcm: bytes, frame: int) -> FloatArray:
    """RMS of each `frame` samples (the last frame may be shorter), in one pass."""
    x = as_array(pcm).astype(np.float64)
    if not x.size:
        return np.zeros(0)
    whole = x.size // frame * frame
    sq = x[:whole].reshape(-1, frame) ** 2
    out = np.sqrt(sq.mean(axis=1)) if whole else np.zeros(0)
    if whole < x.size:
        out = np.append(out, math.sqrt(float(np.mean(x[whole:] ** 2))))
    return out


def dbfs(pcm: bytes) -> float:
    """RMS level relative to full scale (32768); -inf for digital silence."""
    r = rms(pcm)
    return 20 * math.log10(r / FULL_SCALE) if r > 0 else float("-inf")


DEFAULT_SILENCE_RMS = 200.0  # about -44 dBFS: line noise is below, speech well above


def is_silent(pcm: bytes, threshold: float = DEFAULT_SILENCE_RMS) -> bool:
    return rms(pcm) < threshold


def trim_silence(
    pcm: bytes,
    rate: int,
    threshold: float = DEFAULT_SILENCE_RMS,
    *,
    keep_ms: float = 100.0,
    frame_ms: int = 10,
) -> bytes:
    """Cut leading and trailing silence (judged per `frame_ms` frame), keeping `keep_ms`."""
    fb = frame_bytes(rate, frame_ms)
    voiced = np.flatnonzero(frame_rms(pcm, fb // SAMPLE_WIDTH) >= threshold)
    if not voiced.size:
        return b""
    first, last = int(voiced[0]) * fb, int(voiced[-1]) * fb
    keep = frame_bytes(rate, int(keep_ms))
    return pcm[max(0, first - keep) : min(len(pcm), last + fb + keep)]


def tone_power(pcm: bytes, rate: int, freq: float) -> float:
    """The normalised power of `freq` in the block, about amplitude**2 / 4 for a pure sine
    of that frequency at `amplitude` (0-1 of full scale); ~0 when absent. It is the DFT bin
    nearest `freq` (what a Goertzel filter computes), which keeps the detector sharp for
    any block length."""
    x = as_array(pcm)
    n = x.size
    if n == 0 or rate <= 0:
        return 0.0
    k = round(n * freq / rate)
    w = 2 * math.pi * k / n
    phase = w * np.arange(n)
    xf = x.astype(np.float64)
    re, im = float(np.dot(xf, np.cos(phase))), float(np.dot(xf, np.sin(phase)))
    return (re * re + im * im) / (n * n) / (FULL_SCALE * FULL_SCALE)


def dominant_frequency(
    pcm: bytes, rate: int, candidates: Iterable[float], *, min_ratio: float = 0.25
) -> float | None:
    """The candidate with the most power, or None when none stands out: its power must be
    at least `min_ratio` of the block's total power (mean square / 2 scale), so noise or
    silence yields None."""
    cands = list(candidates)
    x = as_array(pcm)
    if not cands or not x.size:
        return None
    total = _power(x) / (FULL_SCALE * FULL_SCALE) / 2
    if total <= 1e-9:
        return None
    best, best_p = None, 0.0
    for f in cands:
        p = tone_power(pcm, rate, f)
        if p > best_p:
            best, best_p = f, p
    return best if best_p >= min_ratio * total else None


def strongest_frequencies(
    pcm: bytes, rate: int, count: int = 2, *, rel_db: float = -12.0, resolution_hz: float = 2.0
) -> list[float]:
    """Up to `count` strongest tones of the block (Hz, strongest first), each a local peak
    of the Hann-windowed spectrum within `rel_db` of the strongest, between 100 Hz and
    Nyquist - 100 Hz. The spectrum is zero-padded to `resolution_hz` bins and each peak is
    refined by parabolic interpolation. Silence yields []."""
    x = as_array(pcm).astype(np.float64)
    if rate <= 0 or x.size < rate // 50:
        return []
    n_fft = max(x.size, 1 << math.ceil(math.log2(rate / resolution_hz)))
    spec = np.abs(np.fft.rfft(x * np.hanning(x.size), n_fft)) ** 2
    bin_hz = rate / n_fft
    lo, hi = math.ceil(100 / bin_hz), int((rate / 2 - 100) / bin_hz)
    band = spec[lo : hi + 1]
    if band.size < 3 or band.max() <= 0:
        return []
    floor = band.max() * 10 ** (rel_db / 10)
    mid = band[1:-1]
    peaks = np.flatnonzero((mid >= floor) & (mid >= band[:-2]) & (mid > band[2:])) + 1
    peaks = peaks[np.argsort(band[peaks])[::-1]][:count]
    out = []
    for p in peaks:
        a, b, c = np.log(band[p - 1 : p + 2] + 1e-30)
        denom = a - 2 * b + c
        shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
        out.append(float((lo + p + shift) * bin_hz))
    return out


# --------------------------------------------------------------------------- rates


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Whole-buffer resampling (soxr, high quality: linear phase, anti-aliased, the filter's
    delay compensated). Use `Resampler` for a stream fed in chunks: this function has no
    state across calls."""
    if src_rate == dst_rate or not pcm:
        return bytes(pcm)
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"bad sample rates {src_rate} -> {dst_rate}")
    x = as_array(pcm)
    if not x.size:
        return b""
    return _rounded_pcm(soxr.resample(x.astype(np.float32), src_rate, dst_rate, quality="HQ"))


def _rounded_pcm(y: npt.NDArray[np.float32]) -> bytes:
    # soxr works in float here: its own int16 output adds TPDF dither from a generator it
    # seeds from the time of day, so the same input would not give the same bytes twice.
    np.rint(y, out=y)
    return _pcm_of(y)


def _stream(src_rate: int, dst_rate: int) -> soxr.ResampleStream:
    # libsoxr's variable-rate engine: it keeps a constant small delay and gives out every
    # chunk's worth of audio at once. Its fixed-rate engine filters in large FFT blocks and
    # hands out ~100 ms at a time, which a 20 ms pacing loop cannot use.
    return soxr.ResampleStream(src_rate, dst_rate, 1, dtype="float32", vr=True)


@functools.cache
def stream_delay(src_rate: int, dst_rate: int) -> int:
    """Output samples a `Resampler` stream lags its input by (its filter's delay)."""
    rs = _stream(src_rate, dst_rate)
    chunk = max(1, src_rate // 50)
    fed = out = 0
    for _ in range(50):  # one second of 20 ms chunks: long past the filter's start-up
        out += rs.resample_chunk(np.zeros(chunk, np.float32)).size
        fed += chunk
    return max(0, round(fed * dst_rate / src_rate - out))


class Resampler:
    """Stateful resampler for a continuous stream delivered in arbitrary chunks (e.g. 20 ms
    frames), without a click at chunk boundaries: one soxr stream (band-limited, so a
    down-conversion does not alias).

    The filter delays the audio by `delay` output samples (15-30 ms: see `stream_delay`).
    The stream starts with that much silence, so that from the first chunk the output
    length tracks the input exactly (no drift) and each chunk's audio is out as soon as the
    filter lets it go."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise ValueError(f"bad sample rates {src_rate} -> {dst_rate}")
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self.delay = stream_delay(src_rate, dst_rate) if src_rate != dst_rate else 0
        self._stream = _stream(src_rate, dst_rate) if src_rate != dst_rate else None
        self._started = False
        self._tail = b""  # an odd byte left over from the previous chunk

    def process(self, pcm: bytes) -> bytes:
        if self._stream is None:
            return pcm
        if self._tail:
            pcm = self._tail + pcm
            self._tail = b""
        if len(pcm) & 1:
            self._tail = pcm[-1:]
            pcm = pcm[:-1]
        if not pcm:
            return b""
        out = _rounded_pcm(self._stream.resample_chunk(as_array(pcm).astype(np.float32)))
        if not self._started:
            self._started = True
            out = bytes(self.delay * SAMPLE_WIDTH) + out
        return out


# --------------------------------------------------------------------------- mixing


def mix(a: bytes, b: bytes) -> bytes:
    """Saturating sum of two PCM streams at the same rate; the shorter is padded with silence."""
    if not a:
        return bytes(b)
    if not b:
        return bytes(a)
    xa, xb = as_array(a), as_array(b)
    if xa.size < xb.size:
        xa, xb = xb, xa
    out = xa.astype(np.int32)
    out[: xb.size] += xb
    return _pcm_of(out)


def gain(pcm: bytes, factor: float) -> bytes:
    """Scale the samples (saturating)."""
    return from_array(saturate(as_array(pcm) * float(factor)))


# --------------------------------------------------------------------------- WAV


def wav_bytes(pcm: bytes, rate: int) -> bytes:
    """Mono 16-bit PCM -> a WAV file's bytes."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(rate)
        w.writeframes(pcm)
    return out.getvalue()


def read_wav(data: bytes) -> tuple[bytes, int]:
    """A 16-bit PCM WAV -> (mono PCM, rate). Stereo is averaged to mono. Other sample widths
    or compressed WAVs raise ValueError: decode those with `shared.media.audio.to_pcm8k_wav`."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            frames = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"not a readable PCM WAV: {exc}") from exc
    if width != SAMPLE_WIDTH:
        raise ValueError(f"expected 16-bit samples, got {8 * width}-bit")
    if channels == 1:
        return frames, rate
    x = as_array(frames)
    x = x[: x.size // channels * channels].reshape(-1, channels).astype(np.int32)
    return from_array(x.sum(axis=1) // channels), rate
