"""One digit per key press, delivered at key-down: the rules for RFC 4733 (RFC 2833)
telephone-events, sans I/O.

A key press on the wire is one *event*: every packet of it carries the same RTP timestamp
(the event's start), the duration grows, and the last packets set the end bit (sent
three times, RFC 4733 2.5.1.4). The first packet of a new timestamp is the key-down, and
that is when the digit is delivered; later packets of the same event, its end bit and
the end's retransmissions, and packets of an older event arriving late (reordered) add
nothing. A key held past the 16-bit duration (about 8.2 s at 8 kHz) goes on as a new
*segment* with the timestamp advanced by the old segment's duration (RFC 4733 2.5.1.3): still
one digit. An event whose start packets were all lost is delivered on its first end packet.

The SIP stack (baresip) decodes the RTP itself and reports only "digit started" (with the
digit) and "digit ended" (without it), no timestamp: libre already drops the repeats of a
running event and the end's retransmissions. `KeyDownDetector.report` with ``timestamp=None``
covers that shape: a start while the same digit is held is a repeat, and a start of the
digit that just ended, within `STRAGGLER_S`, is a packet of that event reordered behind its
end packet (libre reports it as a new start) rather than a new press: Q.24 receivers need
40 ms of pause between digits anyway. SIP INFO digits reach the stack's same two reports.
"""

from __future__ import annotations

from dataclasses import dataclass

# A start of the digit that ended less than this ago is a straggler of that press.
STRAGGLER_S = 0.04
# RFC 4733 2.5.1.3: a long event's next segment starts its predecessor's duration later,
# which ran up to the 16-bit limit (0xFFFF samples); a same-digit event sooner than half that
# is a new press whose predecessor's end packets were lost.
_SEGMENT_MAX = 0xFFFF
_SEGMENT_MIN = 0x8000
# An event this much (or less) before the current one is a late packet, not a new press.
_LATE_MAX = 2 * _SEGMENT_MAX
_REMEMBERED = 8  # timestamps of past events kept, to drop their late packets


@dataclass
class _Key:
    digit: str
    timestamp: int | None
    ended: bool
    ended_at: float = 0.0


class KeyDownDetector:
    """Feed it every telephone-event report of one call leg, in arrival order; it answers
    the digit to deliver now (a key-down) or None."""

    def __init__(self) -> None:
        self._key: _Key | None = None
        self._past: list[int] = []  # timestamps of earlier events, newest last

    def report(self, digit: str | None, *, end: bool, now: float, timestamp: int | None = None) -> str | None:
        """One report: ``digit`` (None when the report does not carry it, as the stack's
        "ended" report), the end bit, the arrival time (monotonic seconds) and the event's
        RTP timestamp when known."""
        if timestamp is None:
            return self._report_untimed(digit, end=end, now=now)
        return self._report_timed(digit, end=end, now=now, timestamp=timestamp & 0xFFFFFFFF)

    # -- reports with the RTP timestamp (the packets themselves)

    def _report_timed(self, digit: str | None, *, end: bool, now: float, timestamp: int) -> str | None:
        key = self._key
        if key is not None and key.timestamp is not None:
            if timestamp == key.timestamp:
                if end and not key.ended:
                    key.ended, key.ended_at = True, now
                return None
            if timestamp in self._past or _late(timestamp, key.timestamp):
                return None  # a late packet of an event already handled
            if (
                not key.ended
                and digit == key.digit
                and _SEGMENT_MIN <= (timestamp - key.timestamp) & 0xFFFFFFFF <= _SEGMENT_MAX
            ):
                # The next segment of a key still held: the same press.
                self._remember(key.timestamp)
                key.timestamp = timestamp
                if end:
                    key.ended, key.ended_at = True, now
                return None
            self._remember(key.timestamp)
        if digit is None:
            return None
        self._key = _Key(digit, timestamp, end, now if end else 0.0)
        return digit

    def _remember(self, timestamp: int) -> None:
        self._past.append(timestamp)
        del self._past[:-_REMEMBERED]

    # -- reports without it (the stack's started/ended reports)

    def _report_untimed(self, digit: str | None, *, end: bool, now: float) -> str | None:
        key = self._key
        if end:
            if key is not None and not key.ended:
                key.ended, key.ended_at = True, now
            return None
        if digit is None:
            return None
        if key is not None and key.digit == digit:
            if not key.ended:
                return None  # the same key, still held
            if now - key.ended_at < STRAGGLER_S:
                return None  # a packet of that press, reordered behind its end
        self._key = _Key(digit, None, False)
        return digit


def _late(a: int, b: int) -> bool:
    """RTP timestamp ``a`` is a little before ``b`` (serial arithmetic, so across the 32-bit
    wrap): a packet of an earlier event. A jump further back is a new timestamp base (the
    sender restarted its stream), and a new event."""
    return 0 < (b - a) & 0xFFFFFFFF <= _LATE_MAX
