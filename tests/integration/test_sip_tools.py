"""The provider's side of the trunk, tested against itself: no edge involved.

The caller (``tools.caller``) dials the provider stand-in (``tools.provider_sim``)
directly — both are real processes with their own baresip stack on loopback — and the
assertions are made with audio (detected tone frequencies) and SIP statuses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tools.phone import dominant_frequencies, pcm_from

if TYPE_CHECKING:  # imported by pytest_plugins (a module-level import would skip assert rewriting)
    from tests.sip_fixtures import CallerResult, SimProcess

pytest_plugins = ["tests.sip_fixtures"]  # the provider_sim and caller fixtures

SIM_TONE = 700.0
CALLER_TONE = 1300.0


def near(freqs: list[float], target: float, tol: float = 15.0) -> bool:
    return any(abs(f - target) <= tol for f in freqs)


def test_answered_call_carries_a_tone_each_way(
    provider_sim: Callable[..., SimProcess], caller: Callable[..., CallerResult]
) -> None:
    sim = provider_sim(
        {"+15551230001": {"action": "answer", "ring_s": 0.3, "tone_hz": SIM_TONE, "echo": False}}
    )
    res = caller("+15551230001", sim.address, tone=CALLER_TONE, digits="5", hangup_after=3.0)

    assert res.exit_code == 0, res.log
    assert res.answered and res.status == 200
    assert res.event("ringing") is not None
    answered = res.event("answered")
    assert answered is not None and answered["t"] >= 0.25  # the sim rang first
    # The caller heard the sim's tone, as a prompt segment and in the recording.
    assert res.prompts and near(res.prompts[0]["freqs_hz"], SIM_TONE), res.prompts
    assert near(res.heard_hz, SIM_TONE), res.heard_hz
    pcm, rate = res.recorded()
    assert rate == 8000 and len(pcm) / 2 / rate > 1.5
    assert near(dominant_frequencies(pcm_from(pcm)[rate // 2 :], rate, 1), SIM_TONE)
    assert res.event("hangup")["by"] == "local"
    # The sim heard the caller's tone and digit, and saw who hung up.
    hangup = sim.wait_event("hangup", number="+15551230001")
    assert near(hangup["heard_hz"], CALLER_TONE), hangup
    assert hangup["digits"] == "5"
    assert hangup["by"] == "remote"
    assert sim.events("incoming", number="+15551230001")[0]["caller"].startswith("<sip:+15550000000@")


def test_echo_returns_the_callers_tone(
    provider_sim: Callable[..., SimProcess], caller: Callable[..., CallerResult]
) -> None:
    sim = provider_sim({"*": {"action": "answer", "ring_s": 0, "echo": True}})
    res = caller("+15551239999", sim.address, tone=CALLER_TONE, hangup_after=2.5)
    assert res.exit_code == 0, res.log
    assert near(res.heard_hz, CALLER_TONE), res.heard_hz


def test_busy_number_fails_with_486_and_rules_change_live(
    provider_sim: Callable[..., SimProcess], caller: Callable[..., CallerResult]
) -> None:
    sim = provider_sim({"+15551230002": {"action": "busy", "ring_s": 0.1}})
    res = caller("+15551230002", sim.address, transport="tcp")
    assert res.exit_code == 4, res.log
    assert not res.answered and res.status == 486
    assert sim.wait_event("rejected", number="+15551230002")["status"] == 486

    sim.patch_rules({"+15551230002": {"action": "decline", "ring_s": 0}})
    res = caller("+15551230002", sim.address)
    assert res.exit_code == 6 and res.status == 603, res.log


def test_ring_forever_then_caller_gives_up(
    provider_sim: Callable[..., SimProcess], caller: Callable[..., CallerResult]
) -> None:
    sim = provider_sim({"+15551230003": {"action": "no_answer"}})
    res = caller("+15551230003", sim.address, hangup_after=1.5)
    assert res.exit_code == 3, res.log
    assert not res.answered
    assert res.event("ringing") is not None and res.event("cancelled") is not None
    cancelled = sim.wait_event("cancelled", number="+15551230003")
    assert 1.2 <= cancelled["t"] <= 3.0
    assert not sim.events("answered")
