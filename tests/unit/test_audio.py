"""shared.media.audio: WAV/MP3 sniffing and conversion to 8 kHz mono 16-bit PCM, on generated tones."""

from __future__ import annotations

import io
import math
import struct
import wave

import pytest

from shared.media.audio import AudioError, sniff, to_pcm8k_wav, wav_format


def tone_wav(rate: int, channels: int, seconds: float, freq: float = 440.0, width: int = 2) -> bytes:
    """A sine tone as a PCM WAV (16-bit, or 8-bit unsigned when width=1)."""
    frames = int(rate * seconds)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        samples = bytearray()
        for i in range(frames):
            v = math.sin(2 * math.pi * freq * i / rate) * 0.5
            for _ in range(channels):
                if width == 2:
                    samples += struct.pack("<h", int(v * 32767))
                else:
                    samples.append(int(128 + v * 127))
        w.writeframes(bytes(samples))
    return out.getvalue()


def test_16k_stereo_becomes_8k_mono_16bit_with_the_same_duration() -> None:
    src = tone_wav(16000, 2, 1.5)
    assert wav_format(src).channels == 2
    out = to_pcm8k_wav(src)
    fmt = wav_format(out)
    assert (fmt.sample_rate, fmt.channels, fmt.sample_width) == (8000, 1, 2)
    assert abs(fmt.duration - 1.5) < 0.005


def test_44k1_8bit_mono_is_resampled() -> None:
    out = to_pcm8k_wav(tone_wav(44100, 1, 0.5, width=1))
    fmt = wav_format(out)
    assert (fmt.sample_rate, fmt.channels, fmt.sample_width) == (8000, 1, 2)
    assert abs(fmt.duration - 0.5) < 0.005


def test_8k_mono_passes_through_sample_for_sample() -> None:
    src = tone_wav(8000, 1, 1.0)
    out = to_pcm8k_wav(src)
    assert wav_format(out) == wav_format(src)
    with wave.open(io.BytesIO(src)) as a, wave.open(io.BytesIO(out)) as b:
        assert a.readframes(8000) == b.readframes(8000)


def test_the_tone_survives_conversion() -> None:
    """Energy is kept: a 440 Hz tone at half scale stays near half scale after resampling."""
    out = to_pcm8k_wav(tone_wav(16000, 2, 1.0))
    with wave.open(io.BytesIO(out)) as w:
        pcm = w.readframes(w.getnframes())
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    rms = math.sqrt(sum(s * s for s in samples[800:-800]) / len(samples[800:-800]))
    assert 0.3 * 32767 < rms < 0.4 * 32767  # 0.5 / sqrt(2) = 0.354


def test_sniff_reads_content_not_names() -> None:
    assert sniff(tone_wav(8000, 1, 0.01)) == "wav"
    assert sniff(b"ID3\x04\x00\x00\x00\x00\x00\x00") == "mp3"
    assert sniff(bytes([0xFF, 0xFB, 0x90, 0x64]) + b"\x00" * 100) == "mp3"  # MPEG-1 layer III frame
    assert sniff(b"%PDF-1.7\n") is None
    assert sniff(b"") is None
    assert sniff(b"RIFF\x00\x00\x00\x00AVI ") is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not audio at all" * 100,
        b"%PDF-1.7\n" + b"\x00" * 1000,
        b"RIFF\x24\x00\x00\x00WAVEjunkjunkjunk",  # a WAVE header with no fmt chunk
        b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 2000,  # an ID3 tag and no frames
        bytes([0xFF, 0xFB, 0x90, 0x64]) + bytes(range(256)) * 4,  # a frame sync, then garbage
    ],
)
def test_garbage_is_a_clear_error(data: bytes) -> None:
    with pytest.raises(AudioError, match=r"WAV or MP3|decode|no samples"):
        to_pcm8k_wav(data)


def test_wav_format_refuses_non_wav() -> None:
    with pytest.raises(AudioError, match="not a readable WAV"):
        wav_format(b"garbage")
