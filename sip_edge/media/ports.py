"""What the media engine needs from the outside: a leg's audio (`AudioIO`, which the SIP
port's ``LegAudio`` has) and consumers of received or mixed audio (`RxSink`).

PCM is 16-bit mono little-endian throughout.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class AudioIO(Protocol):
    """A leg's audio: non-blocking ``write(pcm) -> bytes taken``, ``read(max_bytes) ->
    bytes`` (``b""`` when nothing arrived), ``flush_tx()`` and ``sample_rate``."""

    @property
    def sample_rate(self) -> int:
        """Hz; 0 while media is not up (the engine then leaves the leg alone)."""
        ...

    def write(self, pcm: bytes) -> int: ...

    def read(self, max_bytes: int) -> bytes: ...

    def flush_tx(self) -> None: ...


class RxSink(Protocol):
    """A consumer of received (or mixed) audio. Both methods run on the pacing thread."""

    def feed(self, pcm: bytes, rate: int) -> None: ...

    def ended(self, reason: str) -> None:
        """No more audio will come (tap removed, leg detached, bridge broken)."""
        ...
