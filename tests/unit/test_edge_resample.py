"""Rate conversion without aliasing: a tone the lower rate cannot carry is removed, not
folded back into the band, while the band itself keeps its level. Both the streaming
`dsp.Resampler` (legs and recordings, in 20 ms chunks) and whole-buffer `dsp.resample`
(prompts) are held to it; the box-filter decimator the engine had before (each output
sample the mean of `m` input samples) fails it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from sip_edge.media import dsp

Convert = Callable[[bytes, int, int], bytes]
EDGE_MS = 100  # the filters' start and end are left out of level measurements


def streamed(pcm: bytes, src: int, dst: int) -> bytes:
    rs = dsp.Resampler(src, dst)
    chunk = dsp.frame_bytes(src)
    return b"".join(rs.process(pcm[i : i + chunk]) for i in range(0, len(pcm), chunk))


def box_decimated(pcm: bytes, src: int, dst: int) -> bytes:
    """The former decimator: the mean of each group of src/dst samples."""
    m = src // dst
    x = dsp.as_array(pcm).astype(np.int32)
    return dsp.from_array(x[: x.size // m * m].reshape(-1, m).sum(axis=1) // m)


def steady(pcm: bytes, rate: int) -> bytes:
    edge = dsp.frame_bytes(rate, EDGE_MS)
    return pcm[edge:-edge]


def level_change_db(pcm: bytes, rate: int, out: bytes, out_rate: int) -> float:
    return dsp.dbfs(steady(out, out_rate)) - dsp.dbfs(steady(pcm, rate))


def sine(freq: float, rate: int) -> bytes:
    return dsp.tone(freq, 1000, rate, amplitude=0.5, ramp_ms=0)


CASES = [(16000, 8000, 6000.0), (48000, 8000, 6000.0), (44100, 8000, 5000.0), (48000, 16000, 12000.0)]


@pytest.mark.parametrize("convert", [streamed, dsp.resample], ids=["stream", "whole"])
@pytest.mark.parametrize(("src", "dst", "above"), CASES)
def test_down_conversion_removes_what_the_lower_rate_cannot_carry(
    convert: Convert, src: int, dst: int, above: float
) -> None:
    high = sine(above, src)  # above the output's Nyquist frequency
    assert level_change_db(high, src, convert(high, src, dst), dst) <= -40.0
    voice = sine(1000, src)  # in the telephone band
    assert abs(level_change_db(voice, src, convert(voice, src, dst), dst)) <= 1.0


@pytest.mark.parametrize("convert", [streamed, dsp.resample], ids=["stream", "whole"])
@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (8000, 48000), (16000, 48000), (8000, 11025)])
def test_up_conversion_keeps_the_band_and_adds_no_image(convert: Convert, src: int, dst: int) -> None:
    voice = sine(1000, src)
    out = convert(voice, src, dst)
    assert abs(level_change_db(voice, src, out, dst)) <= 1.0
    image = src - 1000  # where an interpolator without a low-pass mirrors the tone
    assert dsp.tone_power(steady(out, dst), dst, image) < 1e-6


def test_the_former_box_filter_aliases() -> None:
    """What the tests above guard against: 6 kHz at 16 kHz, averaged in pairs, comes out
    only ~8 dB down and folded to 2 kHz, right in the band."""
    high = sine(6000, 16000)
    out = box_decimated(high, 16000, 8000)
    assert level_change_db(high, 16000, out, 8000) > -40.0
    assert dsp.dominant_frequency(steady(out, 8000), 8000, [1000, 2000, 3000]) == 2000


def test_the_stream_delay_is_silence_up_front_and_output_tracks_input() -> None:
    rs = dsp.Resampler(16000, 8000)
    assert 0 < rs.delay == dsp.stream_delay(16000, 8000) <= 8000 * 0.03  # at most 30 ms
    out = streamed(sine(1000, 16000), 16000, 8000)
    assert len(out) // 2 == 8000  # one second in, one second out
    assert not any(dsp.as_array(out[: rs.delay * 2]))
    assert dsp.Resampler(8000, 8000).process(b"\1\2\3\4") == b"\1\2\3\4"
