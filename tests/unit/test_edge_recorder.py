"""The voicemail and call recorders, fed directly in 20 ms frames (pure logic, no clock)."""

from __future__ import annotations

import asyncio

import pytest

from sip_edge.media import dsp
from sip_edge.media.recorder import CallRecorder, StopReason, VoicemailRecorder


def feed(rec: VoicemailRecorder | CallRecorder, pcm: bytes, rate: int = 8000) -> None:
    step = dsp.frame_bytes(rate)
    for i in range(0, len(pcm), step):
        rec.feed(pcm[i : i + step], rate)


def voice(ms: float, rate: int = 8000) -> bytes:
    return dsp.tone(440, ms, rate, amplitude=0.3)


def test_ten_seconds_of_silence_end_it_and_are_trimmed() -> None:
    rec = VoicemailRecorder()
    feed(rec, voice(3000) + dsp.silence(9000, 8000))
    assert not rec.done()
    feed(rec, dsp.silence(1100, 8000))
    r = rec.result(0)
    assert r.reason is StopReason.SILENCE
    assert 3.0 <= r.duration_s <= 3.35  # the trailing silence is gone (a 0.3 s tail is kept)
    pcm, rate = dsp.read_wav(r.wav or b"")
    assert rate == 8000 and dsp.dominant_frequency(pcm, 8000, [440, 1000]) == 440
    feed(rec, voice(1000))  # after the end, audio is ignored
    assert rec.result(0) == r


def test_pound_stops_it() -> None:
    rec = VoicemailRecorder()
    feed(rec, voice(2000))
    rec.stop()
    r = rec.result(0)
    assert r.reason is StopReason.DIGIT and r.duration_s == pytest.approx(2.0, abs=0.05)
    assert r.wav is not None and not r.discarded


def test_hang_up_stops_it() -> None:
    rec = VoicemailRecorder()
    feed(rec, voice(1500) + dsp.silence(2000, 8000))
    rec.ended("audio error: call ended")  # what the engine calls when the leg goes
    r = rec.result(0)
    assert r.reason is StopReason.HANGUP and 1.5 <= r.duration_s <= 1.85


def test_under_a_second_is_discarded() -> None:
    rec = VoicemailRecorder()
    feed(rec, voice(600) + dsp.silence(3000, 8000))
    rec.stop()
    r = rec.result(0)
    assert r.discarded and r.wav is None and r.duration_s < 1.0


def test_only_silence_is_discarded() -> None:
    rec = VoicemailRecorder()
    feed(rec, dsp.silence(10_000, 8000))
    r = rec.result(0)
    assert r.reason is StopReason.SILENCE and r.discarded and r.duration_s == 0


def test_three_minutes_at_most() -> None:
    rec = VoicemailRecorder()
    minute = voice(60_000)
    for _ in range(3):
        feed(rec, minute)
    feed(rec, voice(1000))
    r = rec.result(0)
    assert r.reason is StopReason.MAX_DURATION and r.duration_s == pytest.approx(180.0)
    assert len(dsp.read_wav(r.wav or b"")[0]) == 180 * 16000


def test_wideband_input_is_stored_at_8khz() -> None:
    rec = VoicemailRecorder()
    feed(rec, dsp.tone(1000, 1500, 16000, amplitude=0.3), rate=16000)
    rec.stop()
    pcm, rate = dsp.read_wav(rec.result(0).wav or b"")
    assert rate == 8000 and abs(len(pcm) - 1500 * 16) <= 4
    assert dsp.dominant_frequency(pcm, 8000, [440, 1000]) == 1000


def test_recorder_is_awaitable() -> None:
    async def main() -> StopReason:
        rec = VoicemailRecorder()
        feed(rec, voice(1200))
        asyncio.get_running_loop().call_later(0.01, rec.stop)
        return (await rec).reason

    assert asyncio.run(main()) is StopReason.DIGIT


def test_call_recorder_collects_until_the_bridge_ends() -> None:
    rec = CallRecorder()
    feed(rec, dsp.mix(voice(1000), dsp.tone(1000, 1000, 8000)))
    rec.ended("leg-1 detached")
    r = rec.result(0)
    assert r.end_reason == "leg-1 detached" and r.duration_s == pytest.approx(1.0)
    pcm, rate = dsp.read_wav(r.wav)
    assert rate == 8000 and dsp.tone_power(pcm, 8000, 1000) > 0.01
