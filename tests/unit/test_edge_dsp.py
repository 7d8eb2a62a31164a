"""DSP helpers of the edge's media engine: tones, Goertzel, levels, resampling, mixing, WAV."""

from __future__ import annotations

import array
import io
import itertools
import math
import random
import wave

import pytest

from sip_edge.media import dsp
from sip_edge.media.system_prompts import SystemPrompt
from sip_edge.media.system_prompts import pcm as system_pcm

CANDIDATES = [350, 440, 697, 1000, 1209, 2000]


@pytest.mark.parametrize("rate", [8000, 16000, 48000])
@pytest.mark.parametrize("freq", [440, 1000])
def test_tone_is_detected_at_its_frequency(rate: int, freq: int) -> None:
    pcm = dsp.tone(freq, 200, rate, amplitude=0.5)
    assert len(pcm) == rate // 5 * 2
    assert dsp.dominant_frequency(pcm, rate, CANDIDATES) == freq
    # Goertzel power of a sine at amplitude A (of full scale) is about A**2 / 4.
    assert dsp.tone_power(pcm, rate, freq) == pytest.approx(0.25 * 0.25, rel=0.1)
    assert dsp.tone_power(pcm, rate, 2000 if freq != 2000 else 350) < 0.001


def test_silence_and_noise_have_no_dominant_frequency() -> None:
    assert dsp.dominant_frequency(dsp.silence(200, 8000), 8000, CANDIDATES) is None
    rnd = random.Random(7)
    noise = dsp.to_bytes(array.array("h", (rnd.randint(-8000, 8000) for _ in range(1600))))
    assert dsp.dominant_frequency(noise, 8000, CANDIDATES) is None
    assert dsp.dominant_frequency(b"", 8000, CANDIDATES) is None


def test_dual_tone_contains_both() -> None:
    pcm = dsp.tone([697, 1209], 100, 8000, amplitude=0.6)
    assert dsp.tone_power(pcm, 8000, 697) > 0.01
    assert dsp.tone_power(pcm, 8000, 1209) > 0.01
    assert dsp.tone_power(pcm, 8000, 1000) < 0.002


def test_levels_and_silence() -> None:
    assert dsp.rms(b"") == 0.0
    assert dsp.rms(dsp.silence(20, 8000)) == 0.0
    assert dsp.is_silent(dsp.silence(20, 8000))
    loud = dsp.tone(440, 20, 8000, amplitude=0.5, ramp_ms=0)
    assert dsp.rms(loud) == pytest.approx(0.5 * 32767 / 2**0.5, rel=0.05)
    assert not dsp.is_silent(loud)
    assert dsp.dbfs(loud) == pytest.approx(-9.0, abs=0.5)
    quiet = dsp.tone(440, 20, 8000, amplitude=0.003)  # about -53 dBFS: line noise
    assert dsp.is_silent(quiet)


def test_beep_is_a_1khz_tone_of_400ms() -> None:
    b = dsp.beep(16000)
    assert dsp.duration_ms(b, 16000) == pytest.approx(400)
    assert dsp.dominant_frequency(b, 16000, CANDIDATES) == 1000
    assert dsp.duration_ms(system_pcm(SystemPrompt.BEEP), 8000) == pytest.approx(400)


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000), (8000, 48000), (48000, 8000)])
def test_whole_buffer_resample_keeps_length_and_pitch(src: int, dst: int) -> None:
    pcm = dsp.tone(440, 500, src)
    out = dsp.resample(pcm, src, dst)
    assert abs(len(out) // 2 - dst // 2) <= 2
    assert dsp.dominant_frequency(out, dst, CANDIDATES) == 440
    assert dsp.resample(pcm, src, src) == pcm


def _max_step(pcm: bytes) -> int:
    x = dsp.samples(pcm)
    return max(abs(b - a) for a, b in itertools.pairwise(x))


@pytest.mark.parametrize(
    ("src", "dst"), [(8000, 16000), (16000, 8000), (8000, 48000), (48000, 8000), (44100, 8000), (8000, 11025)]
)
def test_streaming_resampler_is_seamless_across_chunks(src: int, dst: int) -> None:
    pcm = dsp.tone(1000, 1000, src, amplitude=0.5)
    rs = dsp.Resampler(src, dst)
    chunk = dsp.frame_bytes(src)
    out = b"".join(rs.process(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk))
    assert abs(len(out) // 2 - dst) <= 3  # one second in, one second out: no drift
    assert dsp.dominant_frequency(out, dst, CANDIDATES) == 1000
    # No click at the 20 ms chunk boundaries: sample-to-sample steps stay those of the sine.
    bound = 0.5 * 32767 * 2 * math.pi * 1000 / dst * 1.15 + 2
    assert _max_step(out[400:-400]) <= bound


def test_streaming_resampler_handles_odd_chunks() -> None:
    pcm = dsp.tone(440, 200, 8000)
    rs = dsp.Resampler(8000, 16000)
    out = rs.process(pcm[:101]) + rs.process(pcm[101:])
    assert len(out) == 2 * len(pcm)


def test_mix_saturates_and_pads() -> None:
    a = dsp.to_bytes([30000, -30000, 100, 5])
    b = dsp.to_bytes([30000, -30000, -100])
    assert list(dsp.samples(dsp.mix(a, b))) == [32767, -32768, 0, 5]
    assert dsp.mix(a, b"") == a
    assert dsp.mix(b"", b) == b
    mixed = dsp.mix(dsp.tone(440, 200, 8000), dsp.tone(1000, 200, 8000))
    assert dsp.tone_power(mixed, 8000, 440) > 0.01
    assert dsp.tone_power(mixed, 8000, 1000) > 0.01


def test_wav_round_trip_and_stereo_read() -> None:
    pcm = dsp.tone(440, 100, 8000)
    data = dsp.wav_bytes(pcm, 8000)
    assert dsp.read_wav(data) == (pcm, 8000)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(dsp.to_bytes([100, 300, -100, -300]))
    assert dsp.read_wav(out.getvalue()) == (dsp.to_bytes([200, -200]), 16000)
    with pytest.raises(ValueError):
        dsp.read_wav(b"not a wav")


def test_trim_silence() -> None:
    body = dsp.tone(440, 300, 8000)
    padded = dsp.silence(500, 8000) + body + dsp.silence(700, 8000)
    trimmed = dsp.trim_silence(padded, 8000, keep_ms=100)
    assert 380 <= dsp.duration_ms(trimmed, 8000) <= 520
    assert dsp.trim_silence(dsp.silence(100, 8000), 8000) == b""


def test_gain_saturates() -> None:
    assert list(dsp.samples(dsp.gain(dsp.to_bytes([20000, -20000, 10]), 2.0))) == [32767, -32768, 20]


@pytest.mark.parametrize("prompt", list(SystemPrompt))
def test_system_prompts_exist_without_tts(prompt: SystemPrompt) -> None:
    pcm = system_pcm(prompt)
    assert 0.3 <= dsp.duration_ms(pcm, 8000) / 1000 <= 10
    assert not dsp.is_silent(pcm)
