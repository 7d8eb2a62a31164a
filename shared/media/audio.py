"""Audio for prompts, as pure functions over bytes (no I/O).

- `sniff(data)` names the container of an upload from its first bytes ("wav" or "mp3"),
  or None; the filename and the declared content type are never trusted.
- `to_pcm8k_wav(data)` decodes a WAV or MP3 (miniaudio), downmixes to mono, resamples to
  8 kHz, and writes a 16-bit PCM WAV (stdlib `wave`). Anything it cannot decode raises
  `AudioError` with a precise message; it never returns partial output.
- `wav_format(data)` reads a WAV header: (sample rate, channels, sample width, frames).
- `probe(data)` reads only the header (no decoding) and refuses what conversion must not
  start on: an encoding it does not take (`UnsupportedAudio`) or a sample rate outside
  8-48 kHz or a duration over `MAX_SECONDS` (`AudioOutOfBounds`). A WAV's duration comes from
  its data chunk; an MP3's from its Xing/Info frame count, else from its size and first bitrate.
- `to_pcm8k_wav` probes first and decodes in a stream that stops at `MAX_SECONDS` of output,
  so a header that lies (or a compressed stream that decodes longer than probed) cannot grow
  the output past 10 minutes of 8 kHz audio.
"""

from __future__ import annotations

import io
import struct
import wave
from dataclasses import dataclass
from typing import Literal

import miniaudio

TARGET_RATE = 8000
TARGET_CHANNELS = 1
TARGET_WIDTH = 2  # bytes per sample: 16-bit
MIN_RATE = 8000
MAX_RATE = 48000
MAX_CHANNELS = 8
MAX_SECONDS = 600  # 10 minutes
MAX_OUTPUT_FRAMES = MAX_SECONDS * TARGET_RATE
_CHUNK_FRAMES = TARGET_RATE  # one second per decoded chunk

# WAVE format tags dr_wav decodes without expanding beyond its declared block size.
_WAV_PCM, _WAV_FLOAT, _WAV_ALAW, _WAV_MULAW, _WAV_EXTENSIBLE = 0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE
_WAV_TAGS = {_WAV_PCM, _WAV_FLOAT, _WAV_ALAW, _WAV_MULAW}

Kind = Literal["wav", "mp3"]

# MPEG audio frame sync: 11 set bits; then version != reserved (01) and layer III (01).
_MP3_LAYER3 = 0b01


class AudioError(ValueError):
    """The bytes are not audio this module can decode."""


class UnsupportedAudio(AudioError):
    """The container or encoding is not one this module takes (WAV PCM/float/A-law/mu-law, MP3)."""


class AudioOutOfBounds(AudioError):
    """Readable audio whose sample rate, channel count or duration is outside the limits."""


@dataclass(frozen=True)
class AudioInfo:
    """What a header says, before any decoding."""

    kind: Kind
    sample_rate: int
    channels: int
    duration: float  # seconds


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


def _check_bounds(rate: int, channels: int, duration: float) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioOutOfBounds(
            f"the sample rate is {rate} Hz; prompts must be sampled at {MIN_RATE}-{MAX_RATE} Hz"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioOutOfBounds(f"the audio has {channels} channels; at most {MAX_CHANNELS} are taken")
    if duration > MAX_SECONDS:
        raise AudioOutOfBounds(
            f"the audio lasts {duration:.0f} s; a prompt may last at most {MAX_SECONDS // 60} minutes"
        )


def _probe_wav(data: bytes) -> AudioInfo:
    pos = 12
    fmt: tuple[int, int, int, int] | None = None  # tag, channels, rate, block_align
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise UnsupportedAudio("the WAV format chunk is truncated")
            tag, channels, rate, _, block_align = struct.unpack_from("<HHIIH", data, body)
            if tag == _WAV_EXTENSIBLE and size >= 40 and body + 26 <= len(data):
                tag = struct.unpack_from("<H", data, body + 24)[0]  # the sub-format GUID's tag
            fmt = (tag, channels, rate, block_align)
        elif chunk_id == b"data":
            if fmt is None:
                raise UnsupportedAudio("the WAV has no format chunk before its data")
            tag, channels, rate, block_align = fmt
            if tag not in _WAV_TAGS:
                raise UnsupportedAudio(
                    f"WAV encoding 0x{tag:04x} is not taken; use PCM, float, A-law or mu-law"
                )
            if block_align == 0:
                raise UnsupportedAudio("the WAV format chunk declares no block size")
            present = min(size, len(data) - body)  # a header may claim more than it carries
            duration = present / block_align / rate if rate else 0.0
            _check_bounds(rate, channels, duration)
            return AudioInfo("wav", rate, channels, duration)
        pos = body + size + (size & 1)
    raise UnsupportedAudio("not a readable WAV (no format and data chunks)")


# MPEG audio: sample rates by version bits (2.5, reserved, 2, 1), bitrates (kbit/s) of layer III.
_MP3_RATES = {0b00: (11025, 12000, 8000), 0b10: (22050, 24000, 16000), 0b11: (44100, 48000, 32000)}
_MP3_BITRATES_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MP3_BITRATES_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


def _probe_mp3(data: bytes) -> AudioInfo:
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:  # skip the tag: a 28-bit syncsafe size
        size = (data[6] & 0x7F) << 21 | (data[7] & 0x7F) << 14 | (data[8] & 0x7F) << 7 | (data[9] & 0x7F)
        pos = 10 + size + (10 if data[5] & 0x10 else 0)
    limit = min(len(data), pos + 64 * 1024)
    while pos + 4 <= limit and not _is_mp3_frame(data[pos : pos + 4]):
        pos += 1
    if pos + 4 > limit:
        raise UnsupportedAudio("no MPEG layer III frame found after the ID3 tag")
    version = (data[pos + 1] >> 3) & 0b11
    bitrate = (_MP3_BITRATES_V1 if version == 0b11 else _MP3_BITRATES_V2)[(data[pos + 2] >> 4) & 0b1111]
    rate = _MP3_RATES[version][(data[pos + 2] >> 2) & 0b11]
    channels = 1 if (data[pos + 3] >> 6) == 0b11 else 2
    samples_per_frame = 1152 if version == 0b11 else 576
    duration = (len(data) - pos) * 8 / (bitrate * 1000)
    head = data[pos : pos + 200]
    for tag in (b"Xing", b"Info"):
        at = head.find(tag)
        if at >= 0 and len(head) >= at + 12 and head[at + 7] & 0x01:  # the frame count is present
            frames = struct.unpack_from(">I", head, at + 8)[0]
            duration = frames * samples_per_frame / rate
            break
    _check_bounds(rate, channels, duration)
    return AudioInfo("mp3", rate, channels, duration)


def probe(data: bytes) -> AudioInfo:
    """The header's rate, channels and duration, refused when out of bounds. Raises
    `UnsupportedAudio` (not WAV/MP3, or an encoding not taken) or `AudioOutOfBounds`."""
    kind = sniff(data)
    if kind == "wav":
        return _probe_wav(data)
    if kind == "mp3":
        return _probe_mp3(data)
    raise UnsupportedAudio("not a WAV or MP3 file (unrecognised header)")


def to_pcm8k_wav(data: bytes) -> bytes:
    """WAV or MP3 bytes -> 8 kHz mono 16-bit PCM WAV bytes, at most `MAX_SECONDS` long.
    Raises AudioError (`UnsupportedAudio`, `AudioOutOfBounds` among them)."""
    probe(data)
    try:
        stream = miniaudio.stream_memory(
            data,
            output_format=miniaudio.SampleFormat.SIGNED16,
            nchannels=TARGET_CHANNELS,
            sample_rate=TARGET_RATE,
            frames_to_read=_CHUNK_FRAMES,
        )
        pcm = bytearray()
        for chunk in stream:
            pcm += chunk.tobytes()
            if len(pcm) > MAX_OUTPUT_FRAMES * TARGET_WIDTH:
                stream.close()
                raise AudioOutOfBounds(
                    f"the audio decodes to more than {MAX_SECONDS // 60} minutes; "
                    f"a prompt may last at most {MAX_SECONDS // 60} minutes"
                )
    except miniaudio.DecodeError as exc:
        raise AudioError(f"cannot decode audio: {exc}") from exc
    except miniaudio.MiniaudioError as exc:  # pragma: no cover - other decoder failures
        raise AudioError(f"cannot decode audio: {exc}") from exc
    if not pcm:
        raise AudioError("the audio holds no samples")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(TARGET_CHANNELS)
        w.setsampwidth(TARGET_WIDTH)
        w.setframerate(TARGET_RATE)
        w.writeframes(bytes(pcm))
    return out.getvalue()


def wav_format(data: bytes) -> WavFormat:
    """The format of a PCM WAV. Raises AudioError when the header is not a readable WAV."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            return WavFormat(w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise AudioError(f"not a readable WAV: {exc}") from exc
