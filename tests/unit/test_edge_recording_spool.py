"""Call recordings spooled to disk as they are made (`CallRecorder(spool=...)`), and the header
fix of a torn spool file (`finalize_wav`), on real files."""

from __future__ import annotations

from pathlib import Path

from sip_edge.media import dsp
from sip_edge.media.recorder import WAV_HEADER_BYTES, CallRecorder, finalize_wav, wav_header
from tests.waiting import eventually

RATE = 8000


def test_audio_reaches_the_file_while_the_call_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "live" / "t1" / "call.wav"
    rec = CallRecorder(spool=path, flush_s=0.2)
    for _ in range(150):  # 3 s in 20 ms frames
        rec.feed(b"\x10\x20" * 160, RATE)
    # nothing has stopped the recording: the flusher writes and fsyncs it on its own
    eventually(lambda: path.stat().st_size >= WAV_HEADER_BYTES + 3 * RATE * 2, timeout=5, message="the flush")
    assert not rec.done()
    rec.stop("call_ended")
    done = rec.result(5)
    assert done.path == path and done.wav is None and done.end_reason == "call_ended"
    assert done.duration_s == 3.0
    pcm, rate = dsp.read_wav(path.read_bytes())
    assert rate == RATE and pcm == b"\x10\x20" * 160 * 150


def test_a_torn_file_gets_its_header_from_its_size(tmp_path: Path) -> None:
    path = tmp_path / "torn.wav"
    path.write_bytes(wav_header(0) + b"\x01\x02" * 4000 + b"\x03")  # half a sample at the end
    assert finalize_wav(path) == 0.5
    pcm, rate = dsp.read_wav(path.read_bytes())
    assert rate == RATE and len(pcm) == 8000


def test_in_memory_recording_is_unchanged(tmp_path: Path) -> None:
    rec = CallRecorder()
    rec.feed(b"\x00\x01" * 8000, RATE)
    rec.stop()
    done = rec.result(1)
    assert done.path is None and done.wav is not None and done.duration_s == 1.0
    assert list(tmp_path.iterdir()) == []
