"""Audio for prompts, as pure functions over bytes (no I/O).

- `sniff(data)` names the container of an upload from its first bytes ("wav" or "mp3"),
  or None; the filename and the declared content type are never trusted.
- `to_pcm8k_wav(data)` decodes a WAV or MP3 (miniaudio), downmixes to mono, resamples to
  8 kHz, and writes a 16-bit PCM WAV (stdlib `wave`). Anything it cannot decode raises
  `AudioError` with a precise message; it never returns partial output.
- `wav_format(data)` reads a WAV header: (sample rate, channels, sample width, frames).
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from typing import Literal

import miniaudio

TARGET_RATE = 8000
TARGET_CHANNELS = 1
TARGET_WIDTH = 2  # bytes per sample: 16-bit

Kind = Literal["wav", "mp3"]

# MPEG audio frame sync: 11 set bits; then version != reserved (01) and layer III (01).
_MP3_LAYER3 = 0b01


class AudioError(ValueError):
    """The bytes are not audio this module can decode."""


@dataclass(frozen=True)
class WavFormat:
    sample_rate: int
    channels: int
    sample_width: int
    frames: int

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def _is_mp3_frame(header: bytes) -> bool:
    if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xE0) != 0xE0:
        return False
    version = (header[1] >> 3) & 0b11
    layer = (header[1] >> 1) & 0b11
    bitrate = (header[2] >> 4) & 0b1111
    rate = (header[2] >> 2) & 0b11
    return version != 0b01 and layer == _MP3_LAYER3 and bitrate not in (0, 0b1111) and rate != 0b11


def sniff(data: bytes) -> Kind | None:
    """ "wav" for a RIFF/WAVE file, "mp3" for an ID3-tagged or frame-synced MPEG layer III
    stream, None otherwise."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or _is_mp3_frame(data[:4]):
        return "mp3"
    return None


def to_pcm8k_wav(data: bytes) -> bytes:
    """WAV or MP3 bytes -> 8 kHz mono 16-bit PCM WAV bytes. Raises AudioError."""
    if sniff(data) is None:
        raise AudioError("not a WAV or MP3 file (unrecognised header)")
    try:
        decoded = miniaudio.decode(
            data,
            output_format=miniaudio.SampleFormat.SIGNED16,
            nchannels=TARGET_CHANNELS,
            sample_rate=TARGET_RATE,
        )
    except miniaudio.DecodeError as exc:
        raise AudioError(f"cannot decode audio: {exc}") from exc
    except miniaudio.MiniaudioError as exc:  # pragma: no cover - other decoder failures
        raise AudioError(f"cannot decode audio: {exc}") from exc
    if decoded.num_frames == 0:
        raise AudioError("the audio holds no samples")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(TARGET_CHANNELS)
        w.setsampwidth(TARGET_WIDTH)
        w.setframerate(TARGET_RATE)
        w.writeframes(decoded.samples.tobytes())
    return out.getvalue()


def wav_format(data: bytes) -> WavFormat:
    """The format of a PCM WAV. Raises AudioError when the header is not a readable WAV."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            return WavFormat(w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a readable WAV: {exc}") from exc
