"""KeyDownDetector: one digit per key press, delivered at key-down (sip_edge/sip/dtmf.py)."""

from __future__ import annotations

from sip_edge.sip.dtmf import STRAGGLER_S, KeyDownDetector

Packet = tuple[str, bool, int]  # (digit, end bit, RTP timestamp)


def press(digit: str, ts: int, *, packets: int = 5, ends: int = 3) -> list[Packet]:
    """One event on the wire: ``packets`` updates, then the end packet ``ends`` times."""
    return [(digit, False, ts)] * packets + [(digit, True, ts)] * ends


def feed_timed(packets: list[Packet], det: KeyDownDetector | None = None) -> list[tuple[int, str]]:
    """(index of the packet that delivered it, digit) for each delivered digit."""
    det = det or KeyDownDetector()
    out = []
    for i, (digit, end, ts) in enumerate(packets):
        d = det.report(digit, end=end, now=i * 0.02, timestamp=ts)
        if d is not None:
            out.append((i, d))
    return out


def test_the_first_packet_of_an_event_is_the_key_down() -> None:
    assert feed_timed(press("5", 1000)) == [(0, "5")]


def test_end_bit_and_its_retransmissions_add_no_digit() -> None:
    assert feed_timed(press("5", 1000, packets=1, ends=6)) == [(0, "5")]


def test_a_key_held_long_is_one_digit() -> None:
    assert feed_timed(press("7", 1000, packets=400)) == [(0, "7")]


def test_a_long_event_over_segments_is_one_digit() -> None:
    # RFC 4733 2.5.1.3: past 0xFFFF samples the event goes on with a new timestamp.
    held = [("9", False, 1000)] * 5 + [("9", False, 1000 + 0xFFFF)] * 5 + press("9", 1000 + 2 * 0xFFFF)
    assert feed_timed(held) == [(0, "9")]


def test_same_digit_twice_is_two_digits() -> None:
    got = feed_timed(press("1", 1000) + press("1", 3000))
    assert [d for _, d in got] == ["1", "1"]
    assert got[1][0] == 8  # at the second press's first packet


def test_different_digits_in_a_row() -> None:
    assert [d for _, d in feed_timed(press("1", 1000) + press("2", 2600) + press("#", 4200))] == [
        "1",
        "2",
        "#",
    ]


def test_a_new_digit_while_the_previous_end_was_lost() -> None:
    packets = [("1", False, 1000)] * 5 + press("2", 2600)
    assert [d for _, d in feed_timed(packets)] == ["1", "2"]


def test_same_digit_again_after_a_lost_end_is_a_new_press() -> None:
    # No end packet for the first press; the second starts 200 ms later (not a segment).
    packets = [("4", False, 1000)] * 3 + press("4", 2600)
    assert [d for _, d in feed_timed(packets)] == ["4", "4"]
    packets = [("4", False, 1000)] * 3 + press("4", 1000 + 0xFFFF + 800)
    assert [d for _, d in feed_timed(packets)] == ["4", "4"]


def test_an_event_whose_start_packets_were_lost_is_delivered_on_its_end() -> None:
    assert feed_timed([("8", True, 5000)] * 3) == [(0, "8")]


def test_reordered_packets_of_the_event_add_no_digit() -> None:
    packets = [("3", False, 1000), ("3", True, 1000), ("3", False, 1000), ("3", True, 1000)]
    assert feed_timed(packets) == [(0, "3")]


def test_late_packets_of_an_earlier_event_add_no_digit() -> None:
    packets = [*press("1", 1000), ("2", False, 2600), ("1", True, 1000), ("2", True, 2600)]
    packets += [("1", False, 1000)]  # very late, after a newer event
    assert [d for _, d in feed_timed(packets)] == ["1", "2"]


def test_timestamps_wrap_around() -> None:
    packets = press("6", 0xFFFFFF00) + press("6", 0x00000200) + [("6", True, 0xFFFFFF00)]
    assert [d for _, d in feed_timed(packets)] == ["6", "6"]


def test_a_restarted_timestamp_base_is_a_new_press() -> None:
    packets = press("1", 900_000) + press("2", 1000)
    assert [d for _, d in feed_timed(packets)] == ["1", "2"]


# -- the stack's shape: "started <digit>" / "ended" reports, no timestamp


def test_stack_reports_deliver_at_the_start_report() -> None:
    det = KeyDownDetector()
    assert det.report("1", end=False, now=0.0) == "1"
    assert det.report(None, end=True, now=0.1) is None
    assert det.report("2", end=False, now=0.3) == "2"
    assert det.report(None, end=True, now=0.4) is None


def test_stack_repeated_start_while_held_is_one_digit() -> None:
    det = KeyDownDetector()
    assert det.report("5", end=False, now=0.0) == "5"
    assert det.report("5", end=False, now=2.0) is None
    assert det.report(None, end=True, now=9.0) is None


def test_stack_straggler_behind_the_end_is_no_new_digit() -> None:
    # libre reports a packet of the event that arrives after its end packet as a new start.
    det = KeyDownDetector()
    assert det.report("5", end=False, now=0.0) == "5"
    assert det.report(None, end=True, now=0.1) is None
    assert det.report("5", end=False, now=0.1 + STRAGGLER_S / 2) is None
    assert det.report(None, end=True, now=0.12) is None
    assert det.report("5", end=False, now=0.3) == "5"  # a real second press


def test_stack_same_digit_pressed_again_is_two_digits() -> None:
    det = KeyDownDetector()
    got = []
    for t in (0.0, 0.22, 0.44):  # 100 ms on, 120 ms off: baresip's own send_dtmf spacing
        got.append(det.report("0", end=False, now=t))
        got.append(det.report(None, end=True, now=t + 0.1))
    assert [d for d in got if d] == ["0", "0", "0"]


def test_stack_sip_info_reports_back_to_back() -> None:
    # SIP INFO: the stack reports start and end of a digit at once.
    det = KeyDownDetector()
    got = []
    for i, d in enumerate("12#"):
        got.append(det.report(d, end=False, now=i * 0.2))
        got.append(det.report(None, end=True, now=i * 0.2))
    assert [d for d in got if d] == ["1", "2", "#"]


def test_stack_end_without_start_delivers_nothing() -> None:
    det = KeyDownDetector()
    assert det.report(None, end=True, now=0.0) is None
    assert det.report("1", end=False, now=0.01) == "1"
