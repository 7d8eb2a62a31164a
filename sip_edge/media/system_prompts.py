"""The edge's built-in prompts, available without any TTS service or Blob storage.

Spoken prompts are WAVs committed under ``sip_edge/media/system_prompts/`` (8 kHz mono
16-bit), generated once by ``python -m sip_edge.media.system_prompts`` with espeak-ng
(Debian ``espeak-ng``; needed only to regenerate, never at run time). The beep and the
placeholder for text greetings are synthesised here, deterministically.

Text greetings (``Greeting.text``) have no TTS yet: they play `text_greeting_placeholder`,
a soft three-note chime (C5-E5-G5), so the caller hears that the line is alive before the
menu's keys are collected.

`code_announcement(code)` is what a caller-ID verification call plays: "Your verification code
is", then each digit spoken and keyed (its DTMF dual tone, so a person hears it and a machine can
read it), twice, then goodbye.
"""

from __future__ import annotations

import enum
import functools
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from shared.media.audio import to_pcm8k_wav

from . import dsp

DIR = Path(__file__).resolve().parent / "system_prompts"
RATE = 8000


class SystemPrompt(enum.Enum):
    BEEP = "beep"
    DEFAULT_VOICEMAIL_GREETING = "default_voicemail_greeting"
    NUMBER_NOT_IN_SERVICE = "number_not_in_service"
    SERVICE_SUSPENDED = "service_suspended"
    INVALID_OPTION = "invalid_option"
    NO_INPUT = "no_input"
    GOODBYE = "goodbye"
    TEXT_GREETING_PLACEHOLDER = "text_greeting_placeholder"
    CODE_INTRO = "code_intro"
    CODE_AGAIN = "code_again"
    DIGIT_0 = "digit_0"
    DIGIT_1 = "digit_1"
    DIGIT_2 = "digit_2"
    DIGIT_3 = "digit_3"
    DIGIT_4 = "digit_4"
    DIGIT_5 = "digit_5"
    DIGIT_6 = "digit_6"
    DIGIT_7 = "digit_7"
    DIGIT_8 = "digit_8"
    DIGIT_9 = "digit_9"


# What the spoken prompts say (the source of the committed WAVs).
SPOKEN: dict[SystemPrompt, str] = {
    SystemPrompt.DEFAULT_VOICEMAIL_GREETING: (
        "The person you are calling is not available. Please leave a message after the tone. "
        "Press the pound key when you are finished."
    ),
    SystemPrompt.NUMBER_NOT_IN_SERVICE: (
        "The number you have dialed is not in service. Please check the number."
    ),
    SystemPrompt.SERVICE_SUSPENDED: "The service for this number is currently suspended. Goodbye.",
    SystemPrompt.INVALID_OPTION: "Sorry, that is not a valid option.",
    SystemPrompt.NO_INPUT: "Sorry, we did not receive your selection.",
    SystemPrompt.GOODBYE: "Thank you for calling. Goodbye.",
    SystemPrompt.CODE_INTRO: "Hello. Your verification code is",
    SystemPrompt.CODE_AGAIN: "Again, your code is",
    SystemPrompt.DIGIT_0: "zero",
    SystemPrompt.DIGIT_1: "one",
    SystemPrompt.DIGIT_2: "two",
    SystemPrompt.DIGIT_3: "three",
    SystemPrompt.DIGIT_4: "four",
    SystemPrompt.DIGIT_5: "five",
    SystemPrompt.DIGIT_6: "six",
    SystemPrompt.DIGIT_7: "seven",
    SystemPrompt.DIGIT_8: "eight",
    SystemPrompt.DIGIT_9: "nine",
}

# DTMF (ITU-T Q.23): the row and column frequency of each key.
DTMF_ROWS = (697.0, 770.0, 852.0, 941.0)
DTMF_COLS = (1209.0, 1336.0, 1477.0)
DTMF: dict[str, tuple[float, float]] = {
    key: (DTMF_ROWS[i // 3], DTMF_COLS[i % 3]) for i, key in enumerate("123456789")
} | {"0": (DTMF_ROWS[3], DTMF_COLS[1])}


def _chime() -> bytes:
    notes = [(523.25, 260), (0, 40), (659.25, 260), (0, 40), (783.99, 520), (0, 200)]
    return dsp.tone_sequence(notes, RATE, amplitude=0.2)


@functools.cache
def pcm(prompt: SystemPrompt) -> bytes:
    """8 kHz mono PCM of a built-in prompt."""
    if prompt is SystemPrompt.BEEP:
        return dsp.beep(RATE)
    if prompt is SystemPrompt.TEXT_GREETING_PLACEHOLDER:
        return _chime()
    data, rate = dsp.read_wav((DIR / f"{prompt.value}.wav").read_bytes())
    return dsp.resample(data, rate, RATE)


def code_announcement(code: str) -> bytes:
    """8 kHz mono PCM reading out a numeric code twice: each digit spoken, then keyed (DTMF)."""
    if not code.isdigit():
        raise ValueError("a code is digits only")

    def digits() -> list[bytes]:
        out = []
        for d in code:
            out += [pcm(SystemPrompt(f"digit_{d}")), dsp.silence(80, RATE)]
            out += [dsp.tone(DTMF[d], 160, RATE, amplitude=0.3), dsp.silence(300, RATE)]
        return out

    parts = [dsp.silence(300, RATE), pcm(SystemPrompt.CODE_INTRO), dsp.silence(300, RATE), *digits()]
    parts += [dsp.silence(500, RATE), pcm(SystemPrompt.CODE_AGAIN), dsp.silence(300, RATE), *digits()]
    parts += [pcm(SystemPrompt.GOODBYE), dsp.silence(300, RATE)]
    return b"".join(parts)


def generate(out_dir: Path = DIR, only: list[SystemPrompt] | None = None) -> list[Path]:
    """Regenerate the spoken WAVs with espeak-ng (development only); `only` some of them."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for prompt, text in SPOKEN.items():
            if only is not None and prompt not in only:
                continue
            raw = Path(tmp) / f"{prompt.value}.wav"
            subprocess.run([exe, "-v", "en-us", "-s", "150", "-a", "120", "-w", str(raw), text], check=True)
            target = out_dir / f"{prompt.value}.wav"
            spoken, rate = dsp.read_wav(to_pcm8k_wav(raw.read_bytes()))
            target.write_bytes(dsp.wav_bytes(dsp.trim_silence(spoken, rate, keep_ms=150), rate))
            written.append(target)
    return written


if __name__ == "__main__":
    for path in generate():
        print(path, file=sys.stderr)
