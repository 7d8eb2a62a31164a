"""Small DSP helpers over 16-bit signed little-endian mono PCM bytes (pure, no I/O).

Everything here is stdlib (`array`, `math`, `wave`) except whole-buffer resampling, which
reuses miniaudio (already a dependency of `shared/media/audio.py`, which decodes uploads).
`audioop` is deprecated (gone in 3.13), and numpy is not a dependency, so the per-frame
helpers are plain Python, written to be cheap on 20 ms frames (160-960 samples).

- tones: `tone(freq, ms, rate)`, `silence(ms, rate)`, `beep(rate)`, `tone_sequence(...)`
- analysis: `rms`, `dbfs`, `is_silent`, `tone_power` (Goertzel), `dominant_frequency`
- rates: `resample(pcm, src, dst)` for whole buffers, `Resampler` for a stream in chunks
- `mix(a, b)`: saturating add of two streams
- `wav_bytes(pcm, rate)` / `read_wav(data) -> (pcm, rate)` (stdlib `wave`)
"""

from __future__ import annotations

import array
import io
import math
import operator
import sys
import wave
from collections.abc import Iterable, Sequence

import miniaudio

SAMPLE_WIDTH = 2  # bytes: 16-bit
MAX_SAMPLE = 32767
MIN_SAMPLE = -32768
FRAME_MS = 20
_BIG_ENDIAN = sys.byteorder == "big"


# --------------------------------------------------------------------------- conversions


def samples(pcm: bytes) -> array.array[int]:
    """The PCM bytes as an array of signed 16-bit ints (an odd trailing byte is dropped)."""
    a = array.array("h")
    a.frombytes(pcm[: len(pcm) - (len(pcm) & 1)])
    if _BIG_ENDIAN:  # pragma: no cover - little-endian hosts only here
        a.byteswap()
    return a


def to_bytes(a: array.array[int] | Sequence[int]) -> bytes:
    """Signed 16-bit ints (already in range) -> little-endian PCM bytes."""
    arr = a if isinstance(a, array.array) else array.array("h", a)
    if _BIG_ENDIAN:  # pragma: no cover
        arr = array.array("h", arr)
        arr.byteswap()
    return arr.tobytes()


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
    steps = [2 * math.pi * f / rate for f in freqs]
    ramp = max(1, int(rate * ramp_ms / 1000)) if ramp_ms > 0 else 0
    out = array.array("h", bytes(n * SAMPLE_WIDTH))
    for i in range(n):
        v = sum(math.sin(s * i) for s in steps) * peak
        if ramp:
            edge = min(i, n - 1 - i)
            if edge < ramp:
                v *= edge / ramp
        out[i] = int(v)
    return to_bytes(out)


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


def rms(pcm: bytes) -> float:
    """Root mean square of the samples (0 for empty input), in sample units (0-32768)."""
    a = samples(pcm)
    if not a:
        return 0.0
    return math.sqrt(sum(map(operator.mul, a, a)) / len(a))


def dbfs(pcm: bytes) -> float:
    """RMS level relative to a full-scale sine is not used: relative to full scale (32768);
    -inf for digital silence."""
    r = rms(pcm)
    return 20 * math.log10(r / 32768.0) if r > 0 else float("-inf")


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
    voiced = [i for i in range(0, len(pcm), fb) if not is_silent(pcm[i : i + fb], threshold)]
    if not voiced:
        return b""
    keep = frame_bytes(rate, int(keep_ms))
    return pcm[max(0, voiced[0] - keep) : min(len(pcm), voiced[-1] + fb + keep)]


def tone_power(pcm: bytes, rate: int, freq: float) -> float:
    """Goertzel: the normalised power of `freq` in the block, about amplitude**2 / 4 for a
    pure sine of that frequency at `amplitude` (0-1 of full scale); ~0 when absent."""
    a = samples(pcm)
    n = len(a)
    if n == 0 or rate <= 0:
        return 0.0
    k = round(n * freq / rate)  # nearest bin keeps the detector sharp for any block length
    w = 2 * math.pi * k / n
    coeff = 2 * math.cos(w)
    s1 = s2 = 0.0
    for x in a:
        s0 = x + coeff * s1 - s2
        s2 = s1
        s1 = s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return power / (n * n) / (32768.0 * 32768.0)


def dominant_frequency(
    pcm: bytes, rate: int, candidates: Iterable[float], *, min_ratio: float = 0.25
) -> float | None:
    """The candidate with the most Goertzel power, or None when none stands out: its power
    must be at least `min_ratio` of the block's total power (mean square / 2 scale), so
    noise or silence yields None."""
    cands = list(candidates)
    a = samples(pcm)
    if not cands or not a:
        return None
    total = math.fsum(x * x for x in a) / len(a) / (32768.0 * 32768.0) / 2
    if total <= 1e-9:
        return None
    best, best_p = None, 0.0
    for f in cands:
        p = tone_power(pcm, rate, f)
        if p > best_p:
            best, best_p = f, p
    return best if best_p >= min_ratio * total else None


# --------------------------------------------------------------------------- rates


def resample(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Whole-buffer resampling of mono 16-bit PCM (miniaudio's resampler, C speed). Use
    `Resampler` for a stream fed in chunks: this function has no state across calls."""
    if src_rate == dst_rate or not pcm:
        return bytes(pcm)
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"bad sample rates {src_rate} -> {dst_rate}")
    pcm = pcm[: len(pcm) - (len(pcm) & 1)]
    fmt = miniaudio.SampleFormat.SIGNED16
    return bytes(miniaudio.convert_frames(fmt, 1, src_rate, pcm, fmt, 1, dst_rate))


class Resampler:
    """Stateful resampler for a stream delivered in arbitrary chunks (e.g. 20 ms frames),
    without a click at chunk boundaries. Integer up-ratios (8k->16k, 8k->48k) interpolate
    linearly; integer down-ratios (48k->8k, 16k->8k) average each group of samples (a box
    low-pass); other ratios interpolate linearly. Output length tracks input exactly on
    average (no drift)."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        if src_rate <= 0 or dst_rate <= 0:
            raise ValueError(f"bad sample rates {src_rate} -> {dst_rate}")
        self.src_rate = src_rate
        self.dst_rate = dst_rate
        self._last = 0  # previous input sample (for interpolation across chunks)
        self._pos = 0.0  # position of the next output sample, in input samples, relative to _last
        self._pending = array.array("h")  # leftover input for integer decimation
        self._tail = b""  # an odd byte left over from the previous chunk

    def process(self, pcm: bytes) -> bytes:
        if self.src_rate == self.dst_rate:
            return pcm
        if self._tail:
            pcm = self._tail + pcm
            self._tail = b""
        if len(pcm) & 1:
            self._tail = pcm[-1:]
            pcm = pcm[:-1]
        x = samples(pcm)
        if not x:
            return b""
        src, dst = self.src_rate, self.dst_rate
        if src % dst == 0:
            return self._decimate(x, src // dst)
        if dst % src == 0:
            return self._upsample(x, dst // src)
        return self._linear(x)

    def _decimate(self, x: array.array[int], m: int) -> bytes:
        buf = self._pending
        buf.extend(x)
        n = len(buf) // m
        if m == 2:
            out = array.array("h", map(lambda a, b: (a + b) >> 1, buf[0 : 2 * n : 2], buf[1 : 2 * n : 2]))
        else:
            out = array.array("h", (sum(buf[i * m : i * m + m]) // m for i in range(n)))
        self._pending = buf[n * m :]
        return to_bytes(out)

    def _upsample(self, x: array.array[int], k: int) -> bytes:
        out = array.array("h", bytes(len(x) * k * SAMPLE_WIDTH))
        prev = self._last
        j = 0
        for cur in x:
            d = cur - prev
            for step in range(1, k + 1):
                out[j] = prev + d * step // k
                j += 1
            prev = cur
        self._last = prev
        return to_bytes(out)

    def _linear(self, x: array.array[int]) -> bytes:
        step = self.src_rate / self.dst_rate
        pos = self._pos  # 0 == _last, 1 == x[0], ...
        prev = self._last
        out = array.array("h")
        n = len(x)
        while pos <= n:
            i = int(pos)
            frac = pos - i
            a = prev if i == 0 else x[i - 1]
            b = x[i] if i < n else x[n - 1]
            out.append(int(a + (b - a) * frac))
            pos += step
        self._pos = pos - n
        self._last = x[n - 1]
        return to_bytes(out)


# --------------------------------------------------------------------------- mixing


def _sat(v: int) -> int:
    return MAX_SAMPLE if v > MAX_SAMPLE else MIN_SAMPLE if v < MIN_SAMPLE else v


def mix(a: bytes, b: bytes) -> bytes:
    """Saturating sum of two PCM streams at the same rate; the shorter is padded with silence."""
    if not a:
        return bytes(b)
    if not b:
        return bytes(a)
    xa, xb = samples(a), samples(b)
    if len(xa) < len(xb):
        xa, xb = xb, xa
    summed = list(map(operator.add, xa, xb))
    if summed and (max(summed) > MAX_SAMPLE or min(summed) < MIN_SAMPLE):
        summed = list(map(_sat, summed))  # rare: only when the sum clips
    out = array.array("h", summed)
    if len(xa) > len(xb):
        out.extend(xa[len(xb) :])
    return to_bytes(out)


def gain(pcm: bytes, factor: float) -> bytes:
    """Scale the samples (saturating)."""
    return to_bytes(array.array("h", (_sat(int(x * factor)) for x in samples(pcm))))


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
    x = samples(frames)
    mono = array.array("h", (sum(x[i : i + channels]) // channels for i in range(0, len(x), channels)))
    return to_bytes(mono), rate
