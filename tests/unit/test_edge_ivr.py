"""The pure IVR machine: events in, commands out."""

from __future__ import annotations

import random
from typing import Any

import pytest

from shared.configdb_keys import menu_key, tenant_key, user_key
from shared.values import EntryPoint
from sip_edge.directory import TenantDirectory
from sip_edge.ivr import (
    CancelTimer,
    CollectExtension,
    Command,
    ConnectUser,
    EndVoicemail,
    ForwardExternal,
    Hangup,
    IvrSession,
    PlayAnnouncement,
    PlayPrompt,
    StartTimer,
    StartVoicemail,
    StopPlayback,
    voicemail_for,
)

from .edge_docs import menu_doc, tenant_doc, uid, user_doc

T = uid()
ANN, BOB, NOVM, NOFWD = uid(), uid(), uid(), uid()
MAIN, SALES, LOOP, EXT = uid(), uid(), uid(), uid()


def _directory(**main_over: Any) -> TenantDirectory:
    d = TenantDirectory()
    d.apply(tenant_key(T), tenant_doc(T))
    d.apply(user_key(T, ANN), user_doc(T, ANN, extension="101", ring_strategy="simultaneous"))
    d.apply(user_key(T, BOB), user_doc(T, BOB, extension="102", forwarding_numbers=["+15550000002"]))
    d.apply(user_key(T, NOVM), user_doc(T, NOVM, voicemail_enabled=False))
    d.apply(user_key(T, NOFWD), user_doc(T, NOFWD, forwarding_numbers=[]))
    options = {
        "1": {"type": "transfer_user", "user_id": ANN},
        "2": {"type": "go_menu", "menu_id": SALES},
        "3": {"type": "voicemail", "user_id": BOB},
        "4": {"type": "forward_external", "number": "+15557654321"},
        "5": {"type": "dial_by_extension"},
        "6": {"type": "repeat"},
        "7": {"type": "hang_up"},
        "8": {"type": "transfer_user", "user_id": uid()},  # a user that is gone
        "9": {"type": "go_menu", "menu_id": LOOP},
        "0": {"type": "transfer_user", "user_id": NOVM},
    }
    d.apply(menu_key(T, MAIN), menu_doc(T, MAIN, options, **{"timeout_s": 5, "max_invalid": 3, **main_over}))
    d.apply(
        menu_key(T, SALES),
        menu_doc(T, SALES, {"1": {"type": "go_menu", "menu_id": MAIN}}, greeting={"prompt_id": uid()}),
    )
    d.apply(menu_key(T, LOOP), menu_doc(T, LOOP, {"1": {"type": "go_menu", "menu_id": LOOP}}))
    return d


def _session(entry: tuple[str, str] = ("menu", MAIN), **kw: Any) -> IvrSession:
    d = kw.pop("directory", None) or _directory()
    return IvrSession(d, T, EntryPoint(type=entry[0], id=entry[1]), **kw)  # type: ignore[arg-type]


def _last_play(cmds: list[Command]) -> int:
    plays = [c.play_id for c in cmds if isinstance(c, PlayPrompt | PlayAnnouncement)]
    assert plays, f"no playback in {cmds}"
    return plays[-1]


def _greeted(s: IvrSession) -> StartTimer:
    """start(), let the greeting finish, return the timer."""
    cmds = s.start()
    assert isinstance(cmds[0], PlayPrompt)
    (timer,) = s.prompt_finished(_last_play(cmds))
    assert isinstance(timer, StartTimer)
    return timer


def test_greeting_then_timer_then_option() -> None:
    s = _session()
    cmds = s.start()
    assert cmds == [PlayPrompt(None, "Welcome", True, cmds[0].play_id)]  # type: ignore[union-attr]
    (timer,) = s.prompt_finished(_last_play(cmds))
    assert timer == StartTimer(5.0, timer.timer_id)  # type: ignore[union-attr]
    cmds = s.digit("1")
    assert isinstance(cmds[0], CancelTimer)
    connect = cmds[1]
    assert isinstance(connect, ConnectUser)
    assert connect.user.id == ANN and connect.numbers == ("+15550000001",)
    assert connect.strategy == "simultaneous" and connect.ring_timeout_s == 25
    assert s.state == "connecting" and s.user is not None and s.user.id == ANN
    assert [(p.menu_id, p.input, p.action, p.target) for p in s.path] == [(MAIN, "1", "transfer_user", ANN)]
    assert s.digit("2") == []  # digits are ignored while connecting
    assert s.leg_answered() == [] and s.state == "bridged"


def test_digit_during_greeting_interrupts_it() -> None:
    s = _session()
    first = s.start()
    cmds = s.digit("2")
    assert isinstance(cmds[0], StopPlayback)
    assert isinstance(cmds[1], PlayPrompt) and cmds[1].prompt_id is not None  # the submenu greeting
    assert s.menu_id == SALES
    assert s.prompt_finished(_last_play(first)) == []  # late notice of the stopped greeting


def test_invalid_input_replays_then_runs_on_invalid() -> None:
    s = _session()
    _greeted(s)
    for _ in range(2):
        cmds = s.digit("#")
        assert isinstance(cmds[0], CancelTimer)
        assert isinstance(cmds[1], PlayAnnouncement) and cmds[1].name == "invalid_option"
        assert isinstance(cmds[2], PlayPrompt)
        (timer,) = s.prompt_finished(_last_play(cmds))
        assert isinstance(timer, StartTimer)
    cmds = s.digit("*")
    assert cmds == [CancelTimer(), Hangup("hang_up")]  # default on_invalid
    assert s.ended and s.hangup_reason == "hang_up"
    inputs = [(p.input, p.action) for p in s.path]
    assert inputs == [("#", "invalid"), ("#", "invalid"), ("*", "invalid"), ("invalid", "hang_up")]


def test_on_invalid_go_menu() -> None:
    s = _session(directory=_directory(max_invalid=1, on_invalid={"type": "go_menu", "menu_id": SALES}))
    _greeted(s)
    cmds = s.digit("#")
    assert isinstance(cmds[-1], PlayPrompt) and s.menu_id == SALES


def test_timeout_repeats_then_ends_the_call() -> None:
    s = _session()
    timer = _greeted(s)
    for _ in range(2):
        cmds = s.timeout(timer.timer_id)
        assert len(cmds) == 1 and isinstance(cmds[0], PlayPrompt)
        (timer,) = s.prompt_finished(_last_play(cmds))  # type: ignore[assignment]
    cmds = s.timeout(timer.timer_id)
    assert len(cmds) == 1 and isinstance(cmds[0], PlayAnnouncement) and cmds[0].name == "goodbye"
    assert not cmds[0].interruptible
    assert s.digit("1") == []  # closing: digits ignored
    assert s.prompt_finished(cmds[0].play_id) == [Hangup("no_input")]
    assert [p.input for p in s.path] == ["timeout", "timeout", "timeout"]


def test_on_timeout_action_runs_at_the_first_timeout() -> None:
    s = _session(directory=_directory(on_timeout={"type": "transfer_user", "user_id": BOB}))
    timer = _greeted(s)
    (cmd,) = s.timeout(timer.timer_id)
    assert isinstance(cmd, ConnectUser) and cmd.user.id == BOB


def test_stale_timer_and_prompt_notices_are_ignored() -> None:
    s = _session()
    timer = _greeted(s)
    s.digit("6")  # repeat: the timer is cancelled, the greeting plays again
    assert s.timeout(timer.timer_id) == []
    assert s.prompt_finished(12345) == []
    assert s.timeout() == []  # no timer running


def test_repeat_and_loop_limit() -> None:
    s = _session(max_menu_visits=5)
    s.start()
    cmds: list[Command] = []
    for _ in range(4):
        cmds = s.digit("6")
        assert isinstance(cmds[-1], PlayPrompt)
    cmds = s.digit("6")
    assert isinstance(cmds[-1], PlayAnnouncement) and cmds[-1].name == "goodbye"
    assert s.prompt_finished(cmds[-1].play_id) == [Hangup("loop_limit")]
    assert s.path[-1].action == "loop_limit"


def test_go_menu_self_loop_is_capped_at_twenty_visits() -> None:
    s = _session()
    s.start()
    s.digit("9")
    n = 0
    while s.state == "menu":
        s.digit("1")
        n += 1
        assert n < 100
    assert s.menu_visits == 21 and s.hangup_reason == "loop_limit"


def test_voicemail_action_and_hash_ends_it_once() -> None:
    s = _session()
    s.start()
    cmds = s.digit("3")
    assert isinstance(cmds[-1], StartVoicemail) and cmds[-1].user.id == BOB
    assert s.state == "voicemail"
    assert s.digit("1") == []
    assert s.digit("#") == [EndVoicemail()]
    assert s.digit("#") == []


def test_forward_external_and_failure() -> None:
    s = _session()
    s.start()
    cmds = s.digit("4")
    assert isinstance(cmds[-1], ForwardExternal) and cmds[-1].number == "+15557654321"
    cmds = s.leg_failed("busy")
    assert isinstance(cmds[0], PlayAnnouncement) and cmds[0].name == "unavailable"
    assert s.prompt_finished(cmds[0].play_id) == [Hangup("busy")]
    assert s.path[-1].input == "busy"


def test_no_answer_goes_to_voicemail_or_hangs_up() -> None:
    s = _session()
    s.start()
    s.digit("1")
    (cmd,) = s.leg_failed("no_answer")
    assert isinstance(cmd, StartVoicemail) and cmd.user.id == ANN
    assert (s.path[-1].input, s.path[-1].action) == ("no_answer", "voicemail")
    s = _session()
    s.start()
    s.digit("0")  # NOVM has voicemail disabled
    cmds = s.leg_failed("no_answer")
    assert isinstance(cmds[0], PlayAnnouncement)
    assert s.prompt_finished(cmds[0].play_id) == [Hangup("no_answer")]
    assert s.leg_failed() == []  # not connecting any more


def test_voicemail_for() -> None:
    d = _directory()
    assert voicemail_for(d.user(T, ANN)) == [StartVoicemail(d.user(T, ANN))]  # type: ignore[arg-type]
    cmds = voicemail_for(d.user(T, NOVM))  # type: ignore[arg-type]
    assert isinstance(cmds[-1], Hangup)


def test_user_entry_and_user_without_forwarding() -> None:
    s = _session(("user", ANN))
    (cmd,) = s.start()
    assert isinstance(cmd, ConnectUser) and s.path[0].input == "entry"
    s = _session(("user", NOFWD))
    (cmd,) = s.start()
    assert isinstance(cmd, StartVoicemail)
    s = _session(("user", uid()))
    cmds = s.start()
    assert isinstance(cmds[0], PlayAnnouncement) and s.hangup_reason == "user_not_found"


def test_missing_menu_or_user() -> None:
    s = _session(("menu", uid()))
    cmds = s.start()
    assert isinstance(cmds[0], PlayAnnouncement)
    assert s.prompt_finished(cmds[0].play_id) == [Hangup("menu_not_found")]
    s = _session()
    s.start()
    cmds = s.digit("8")
    assert isinstance(cmds[-1], PlayAnnouncement) and s.hangup_reason == "user_not_found"


def test_hang_up_action() -> None:
    s = _session()
    _greeted(s)
    assert s.digit("7") == [CancelTimer(), Hangup("hang_up")]


def test_dial_by_extension() -> None:
    s = _session()
    s.start()
    cmds = s.digit("5")
    assert isinstance(cmds[1], CollectExtension) and cmds[1].max_digits == 6
    assert isinstance(cmds[-1], PlayAnnouncement) and cmds[-1].name == "enter_extension"
    assert s.digit("1")[0] == StopPlayback()  # typing ahead interrupts the prompt
    s.digit("0")
    cmds = s.digit("2")
    assert isinstance(cmds[-1], StartTimer)
    cmds = s.digit("#")
    assert isinstance(cmds[-1], ConnectUser) and cmds[-1].user.id == BOB
    assert s.path[-1].input == "extension:102"


def test_dial_by_extension_timeout_and_retries() -> None:
    s = _session(max_extension_attempts=2)
    s.start()
    cmds = s.digit("5")
    (timer,) = s.prompt_finished(_last_play(cmds))
    assert isinstance(timer, StartTimer) and timer.seconds == 5.0
    s.digit("9")
    (timer,) = [c for c in s.digit("9") if isinstance(c, StartTimer)]
    cmds = s.timeout(timer.timer_id)  # "99" is not an extension
    assert [c.name for c in cmds if isinstance(c, PlayAnnouncement)] == [
        "invalid_extension",
        "enter_extension",
    ]
    cmds = s.digit("#")  # empty: a second failed attempt ends the call
    assert isinstance(cmds[-1], PlayAnnouncement) and cmds[-1].name == "invalid_extension"
    assert s.prompt_finished(cmds[-1].play_id) == [Hangup("invalid_extension")]


def test_dial_by_extension_caps_digits() -> None:
    s = _session()
    s.start()
    s.digit("5")
    for d in "10100":
        s.digit(d)
    cmds = s.digit("9")  # sixth digit: looked up at once
    assert s.state == "extension" and isinstance(cmds[-1], PlayAnnouncement)
    s.digit("*")  # clears
    for d in "101#":
        cmds = s.digit(d)
    assert isinstance(cmds[-1], ConnectUser)


def test_caller_hangs_up_during_greeting() -> None:
    s = _session()
    s.start()
    assert s.hangup() == [StopPlayback(), Hangup("caller_hangup")]
    assert s.ended
    assert s.digit("1") == [] and s.timeout() == [] and s.prompt_finished() == [] and s.hangup() == []


def test_garbage_digits_are_ignored() -> None:
    s = _session()
    _greeted(s)
    for d in ("A", "", "11", "x", "\x00"):
        assert s.digit(d) == []
    assert s.digits_seen == 0


def test_dtmf_flood_ends_the_call_and_stays_bounded() -> None:
    s = _session(directory=_directory(max_invalid=10, on_invalid={"type": "repeat"}))
    s.start()
    total = 0
    for i in range(10_000):
        total += len(s.digit("6#"[i % 2]))
    assert s.state in ("closing", "ended") and s.hangup_reason in ("dtmf_flood", "loop_limit")
    assert len(s.path) <= s.max_path and total < 200


@pytest.mark.parametrize("seed", range(30))
def test_random_event_streams_never_raise(seed: int) -> None:
    rnd = random.Random(seed)
    d = _directory()
    s = IvrSession(d, T, EntryPoint(type="menu", id=MAIN))
    out = s.start()
    for _ in range(300):
        r = rnd.random()
        if r < 0.5:
            out = s.digit(rnd.choice("0123456789*#A"))
        elif r < 0.7:
            plays = [c.play_id for c in out if isinstance(c, PlayPrompt | PlayAnnouncement)]
            out = s.prompt_finished(plays[-1] if plays and rnd.random() < 0.9 else None)
        elif r < 0.85:
            timers = [c.timer_id for c in out if isinstance(c, StartTimer)]
            out = s.timeout(timers[-1] if timers else None)
        elif r < 0.95:
            out = rnd.choice([s.leg_failed, s.leg_answered])()
        else:
            out = s.hangup()
        assert all(isinstance(c, Command) for c in out)  # type: ignore[arg-type,misc]
        if s.ended:
            assert s.digit("1") == [] and s.timeout() == []
    assert len(s.path) <= s.max_path
