"""shared.media.audio: WAV/MP3 sniffing and conversion to 8 kHz mono 16-bit PCM, on generated tones."""

from __future__ import annotations

import io
import math
import struct
import wave

import pytest

from shared.media import audio
from shared.media.audio import (
    AudioError,
    AudioOutOfBounds,
    UnsupportedAudio,
    probe,
    sniff,
    to_pcm8k_wav,
    wav_format,
)


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
    with pytest.raises(AudioError, match=r"WAV or MP3|decode|no samples|readable WAV|no MPEG"):
        to_pcm8k_wav(data)


def test_wav_format_refuses_non_wav() -> None:
    with pytest.raises(AudioError, match="not a readable WAV"):
        wav_format(b"garbage")


def raw_wav(tag: int, channels: int, rate: int, block_align: int, bits: int, data: bytes) -> bytes:
    """A WAV assembled by hand, so its header can say what a library would refuse to write."""
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    body = b"WAVE" + chunks
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_a_1_hz_header_is_refused_before_decoding() -> None:
    bomb = raw_wav(1, 1, 1, 1, 8, b"\x80" * 500)  # 544 bytes that would decode to 4,000,000 samples
    assert len(bomb) == 544
    with pytest.raises(AudioOutOfBounds, match="8000-48000 Hz"):
        probe(bomb)
    with pytest.raises(AudioOutOfBounds):
        to_pcm8k_wav(bomb)


@pytest.mark.parametrize("rate", [4000, 7999, 48001, 96000, 192000])
def test_rates_outside_8_to_48_khz_are_out_of_bounds(rate: int) -> None:
    with pytest.raises(AudioOutOfBounds, match=f"{rate} Hz"):
        probe(raw_wav(1, 1, rate, 2, 16, b"\x00\x00" * 100))


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_rates_inside_the_bounds_are_taken(rate: int) -> None:
    info = probe(tone_wav(rate, 1, 0.5))
    assert (info.kind, info.sample_rate, info.channels) == ("wav", rate, 1)
    assert info.duration == pytest.approx(0.5, abs=0.01)


def test_over_ten_minutes_is_out_of_bounds_from_the_header() -> None:
    eleven_minutes = raw_wav(1, 1, 8000, 1, 8, b"\x80" * (8000 * 660))
    with pytest.raises(AudioOutOfBounds, match="at most 10 minutes"):
        probe(eleven_minutes)
    ten_minutes = raw_wav(1, 1, 8000, 1, 8, b"\x80" * (8000 * 600))
    assert probe(ten_minutes).duration == 600


def test_a_data_size_that_claims_more_than_the_file_holds_counts_what_is_there() -> None:
    wav = bytearray(raw_wav(1, 1, 8000, 2, 16, b"\x00\x00" * 8000))
    wav[40:44] = struct.pack("<I", 0xFFFFFFF0)  # the data chunk claims 4 GB
    assert probe(bytes(wav)).duration == pytest.approx(1.0)


def test_compressed_wav_encodings_are_unsupported() -> None:
    adpcm = raw_wav(0x0011, 1, 8000, 256, 4, b"\x00" * 1024)  # IMA ADPCM expands 4x on decoding
    with pytest.raises(UnsupportedAudio, match="0x0011"):
        probe(adpcm)


def test_an_mp3_whose_xing_frame_count_is_over_ten_minutes_is_out_of_bounds() -> None:
    frame = bytes([0xFF, 0xFB, 0x90, 0x64]) + b"\x00" * 32
    xing = b"Xing" + struct.pack(">I", 1) + struct.pack(">I", 40_000)  # 40,000 x 1152 at 44.1 kHz
    with pytest.raises(AudioOutOfBounds, match="at most 10 minutes"):
        probe(frame + xing + b"\x00" * 400)


def test_an_mp3_at_8_kbit_s_filling_10_mb_is_out_of_bounds_by_its_size() -> None:
    frame = bytes([0xFF, 0xE3, 0x18, 0xC4])  # MPEG 2.5 layer III, 8 kbit/s, 8 kHz, mono
    with pytest.raises(AudioOutOfBounds, match="at most 10 minutes"):
        probe(frame + b"\x00" * (1024 * 1024))  # 1 MB at 8 kbit/s lasts 17 minutes


def test_decoding_stops_at_the_output_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    """The decoded output is bounded on its own, whatever the header said."""
    monkeypatch.setattr(audio, "MAX_OUTPUT_FRAMES", 8000)  # one second of 8 kHz output
    with pytest.raises(AudioOutOfBounds, match="decodes to more than"):
        to_pcm8k_wav(tone_wav(16000, 1, 3.0))
    assert wav_format(to_pcm8k_wav(tone_wav(16000, 1, 0.5))).frames == 4000
