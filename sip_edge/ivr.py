"""The IVR as a pure, deterministic state machine: configuration is data, interpreted here.

No I/O and no clock. The orchestrator (the per-call task) feeds it events and performs the
commands it returns, in order:

    session = IvrSession(view, tenant_id, entry)
    cmds = session.start()
    ... session.prompt_finished(play_id) / session.digit("1") / session.timeout(timer_id)
    ... session.leg_answered() / session.leg_failed("no_answer") / session.hangup()

Playback: `PlayPrompt` / `PlayAnnouncement` are queued one after another; `StopPlayback` stops the
current one and drops the queue. Call `prompt_finished(play_id)` when a queued item finishes (or
fails to play): the machine acts only on the last item it issued, so a late notice from a stopped
prompt is ignored. Timers: at most one runs; `StartTimer` replaces it, `CancelTimer` stops it, and
`timeout(timer_id)` with a stale id is ignored. `Hangup` means hang up now (any announcement
before it has already finished: the machine waits for `prompt_finished` first).

Menu semantics (see `shared.directory.models.ivr`): the greeting plays (a digit interrupts it), then the
machine waits `timeout_s` for one digit. A listed digit runs its action. An unlisted digit is
invalid: "invalid option" and the menu again, until `max_invalid` invalid inputs were counted in
that menu, then `on_invalid` runs. No digit in time runs `on_timeout`; when that is `repeat`
(the default) the menu is replayed, and after `max_invalid` timeouts in that menu the call ends
("no_input"), so an idle caller never loops forever. Every menu entry (including replays) counts
towards `max_menu_visits`; past it the call ends ("loop_limit").

Bounded under DTMF floods: digits are ignored while a terminal action runs (connecting, bridged,
voicemail except `#`, closing, ended), extension digits are capped at `max_extension_digits`,
and past `max_digits` digits in one call the call ends ("dtmf_flood").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared.directory.models import ivr as m
from shared.directory.models.user import RingStrategy, User
from shared.history.models.call import PathStep
from shared.values import EntryPoint
from sip_edge.directory import DirectoryView

DIGITS = frozenset("0123456789*#")
DEFAULT_FORWARD_TIMEOUT_S = 30

# Names of the built-in announcements the orchestrator must be able to play.
ANNOUNCEMENTS: frozenset[str] = frozenset(
    {"invalid_option", "enter_extension", "invalid_extension", "unavailable", "goodbye"}
)

# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class PlayPrompt:
    """Play a tenant prompt (`prompt_id`, from Blob `prompts`) or a text greeting (`text`: no
    text-to-speech yet, so the orchestrator plays a short chime instead)."""

    prompt_id: str | None
    text: str | None
    interruptible: bool = True
    play_id: int = 0


@dataclass(frozen=True, slots=True)
class PlayAnnouncement:
    """Play a built-in announcement (one of `ANNOUNCEMENTS`)."""

    name: str
    interruptible: bool = True
    play_id: int = 0


@dataclass(frozen=True, slots=True)
class StopPlayback:
    """Stop what is playing and drop the queued playback."""


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)start the single timer; call `timeout(timer_id)` when it fires."""

    seconds: float
    timer_id: int


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Stop the timer (a `timeout` already on its way is ignored by the machine)."""


@dataclass(frozen=True, slots=True)
class ConnectUser:
    """Send the user's devices an `incoming_call` push and dial `numbers` through the provider
    (in order, or all at once), `ring_timeout_s` each; bridge the first that answers. Report the
    result with `leg_answered()` or `leg_failed(outcome)`."""

    user: User
    numbers: tuple[str, ...]
    strategy: RingStrategy
    ring_timeout_s: int


@dataclass(frozen=True, slots=True)
class ForwardExternal:
    """Dial an external number through the provider and bridge it (same reporting as ConnectUser)."""

    number: str
    ring_timeout_s: int = DEFAULT_FORWARD_TIMEOUT_S


@dataclass(frozen=True, slots=True)
class StartVoicemail:
    """Play the user's voicemail greeting (or a default) and a beep, then record the caller."""

    user: User


@dataclass(frozen=True, slots=True)
class EndVoicemail:
    """The caller pressed `#` while recording: stop the recording, keep it, and hang up."""


@dataclass(frozen=True, slots=True)
class CollectExtension:
    """Dial-by-extension started: digits now build an extension (ends on `terminator`, on
    `max_digits` digits, or after `timeout_s` without a digit). Informational."""

    max_digits: int
    timeout_s: float
    terminator: str = "#"


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str


Command = (
    PlayPrompt
    | PlayAnnouncement
    | StopPlayback
    | StartTimer
    | CancelTimer
    | ConnectUser
    | ForwardExternal
    | StartVoicemail
    | EndVoicemail
    | CollectExtension
    | Hangup
)

State = Literal["idle", "menu", "extension", "connecting", "bridged", "voicemail", "closing", "ended"]


def voicemail_for(user: User) -> list[Command]:
    """What to do when a user cannot be reached: their voicemail if enabled, else an
    announcement and a hang-up. (Pure; `IvrSession.leg_failed` uses it.)"""
    if user.voicemail_enabled:
        return [StartVoicemail(user)]
    return [PlayAnnouncement("unavailable", interruptible=False), Hangup("voicemail_disabled")]


@dataclass
class _Pending:
    """What the machine waits for after the current playback ends."""

    kind: Literal["none", "menu_wait", "extension_wait", "hangup"] = "none"
    reason: str = ""


@dataclass
class IvrSession:
    """One call's IVR. See the module docstring for inputs, commands and limits."""

    view: DirectoryView
    tenant_id: str
    entry: EntryPoint
    max_menu_visits: int = 20
    max_digits: int = 200
    max_extension_digits: int = 6
    extension_timeout_s: float = 5.0
    max_extension_attempts: int = 3
    max_path: int = 100

    state: State = field(default="idle", init=False)
    path: list[PathStep] = field(default_factory=list, init=False)
    menu_id: str | None = field(default=None, init=False)
    """The menu the caller is in (or came from, for extension/connect)."""
    user: User | None = field(default=None, init=False)
    """The user the call is for, once known (transfer, voicemail, extension)."""
    forward_number: str | None = field(default=None, init=False)
    hangup_reason: str | None = field(default=None, init=False)
    menu_visits: int = field(default=0, init=False)
    digits_seen: int = field(default=0, init=False)

    _invalid: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _timeouts: dict[str, int] = field(default_factory=dict, init=False, repr=False)
    _play_seq: int = field(default=0, init=False, repr=False)
    _playing: bool = field(default=False, init=False, repr=False)
    _timer_seq: int = field(default=0, init=False, repr=False)
    _timer_running: bool = field(default=False, init=False, repr=False)
    _pending: _Pending = field(default_factory=_Pending, init=False, repr=False)
    _ext_buffer: str = field(default="", init=False, repr=False)
    _ext_attempts: int = field(default=0, init=False, repr=False)
    _voicemail_ending: bool = field(default=False, init=False, repr=False)

    # ------------------------------------------------------------------ inputs

    def start(self) -> list[Command]:
        """Begin at the entry point."""
        if self.state != "idle":
            return []
        if self.entry.type == "menu":
            return self._enter_menu(self.entry.id, None)
        user = self.view.user(self.tenant_id, self.entry.id)
        self._step(None, "entry", "transfer_user", self.entry.id)
        if user is None:
            return self._close("unavailable", "user_not_found")
        return self._connect_user(user)

    def prompt_finished(self, play_id: int | None = None) -> list[Command]:
        """The playback queue (or item `play_id`) finished or failed to play."""
        if play_id is not None and play_id != self._play_seq:
            return []
        if not self._playing:
            return []
        self._playing = False
        pending, self._pending = self._pending, _Pending()
        if pending.kind == "menu_wait" and self.state == "menu":
            menu = self._menu()
            if menu is None:
                return self._close("unavailable", "menu_not_found")
            return [self._start_timer(menu.timeout_s)]
        if pending.kind == "extension_wait" and self.state == "extension":
            return [self._start_timer(self.extension_timeout_s)]
        if pending.kind == "hangup" and self.state == "closing":
            return self._end(pending.reason)
        return []

    def digit(self, d: str) -> list[Command]:
        """A DTMF digit (RFC 4733 or SIP INFO). Anything but 0-9 * # is ignored."""
        if d not in DIGITS or self.state in ("idle", "ended"):
            return []
        self.digits_seen += 1
        if self.digits_seen > self.max_digits and self.state in ("menu", "extension"):
            return [*self._interrupt(), *self._end("dtmf_flood")]
        if self.state == "menu":
            return self._menu_digit(d)
        if self.state == "extension":
            return self._extension_digit(d)
        if self.state == "voicemail" and d == "#" and not self._voicemail_ending:
            self._voicemail_ending = True
            return [EndVoicemail()]
        return []

    def timeout(self, timer_id: int | None = None) -> list[Command]:
        """The timer fired. A stale `timer_id` (cancelled or replaced) is ignored."""
        if not self._timer_running or (timer_id is not None and timer_id != self._timer_seq):
            return []
        self._timer_running = False
        if self.state == "menu" and not self._playing:
            return self._menu_timeout()
        if self.state == "extension":
            return self._extension_done("timeout")
        return []

    def leg_answered(self) -> list[Command]:
        """A forwarded leg answered and is bridged."""
        if self.state == "connecting":
            self.state = "bridged"
        return []

    def leg_failed(self, outcome: str = "no_answer") -> list[Command]:
        """Nobody answered the forward (no_answer, busy, declined, failed): the user's voicemail
        when enabled, else an announcement and a hang-up."""
        if self.state != "connecting":
            return []
        if self.user is not None and self.forward_number is None:
            if self.user.voicemail_enabled:
                self._step(None, outcome, "voicemail", self.user.id)
            else:
                self._step(None, outcome, "hang_up", self.user.id)
            return self._run_voicemail_for(self.user, outcome)
        self._step(None, outcome, "hang_up", self.forward_number)
        return self._close("unavailable", outcome)

    def hangup(self, reason: str = "caller_hangup") -> list[Command]:
        """The call ended from outside (the caller hung up, the edge is shutting down...)."""
        if self.state == "ended":
            return []
        return [*self._interrupt(), *self._end(reason)]

    @property
    def ended(self) -> bool:
        return self.state == "ended"

    # ------------------------------------------------------------------ menus

    def _menu(self) -> m.IvrMenu | None:
        return None if self.menu_id is None else self.view.menu(self.tenant_id, self.menu_id)

    def _enter_menu(self, menu_id: str, prefix: list[Command] | None) -> list[Command]:
        out = list(prefix or [])
        menu = self.view.menu(self.tenant_id, menu_id)
        self.menu_id = menu_id
        if menu is None:
            self._step(menu_id, None, "menu_not_found", menu_id)
            return out + self._close("unavailable", "menu_not_found")
        self.menu_visits += 1
        if self.menu_visits > self.max_menu_visits:
            self._step(menu_id, None, "loop_limit", menu_id)
            return out + self._close("goodbye", "loop_limit")
        self.state = "menu"
        greeting = menu.greeting
        out.append(self._play_prompt(greeting.prompt_id, greeting.text))
        self._pending = _Pending("menu_wait")
        return out

    def _menu_digit(self, d: str) -> list[Command]:
        out = self._interrupt()
        menu = self._menu()
        if menu is None:
            return out + self._close("unavailable", "menu_not_found")
        action = menu.options.get(d)  # type: ignore[call-overload]
        if action is not None:
            self._step(menu.id, d, action.type, _target(action))
            return out + self._run(action, menu)
        count = self._invalid.get(menu.id, 0) + 1
        self._invalid[menu.id] = count
        if count >= menu.max_invalid:
            self._step(menu.id, d, "invalid")
            self._step(menu.id, "invalid", menu.on_invalid.type, _target(menu.on_invalid))
            return out + self._run(menu.on_invalid, menu)
        self._step(menu.id, d, "invalid")
        return self._enter_menu(menu.id, [*out, self._play_announcement("invalid_option")])

    def _menu_timeout(self) -> list[Command]:
        menu = self._menu()
        if menu is None:
            return self._close("unavailable", "menu_not_found")
        action = menu.on_timeout
        if action.type == "repeat":
            count = self._timeouts.get(menu.id, 0) + 1
            self._timeouts[menu.id] = count
            if count >= menu.max_invalid:
                self._step(menu.id, "timeout", "hang_up")
                return self._close("goodbye", "no_input")
        self._step(menu.id, "timeout", action.type, _target(action))
        return self._run(action, menu)

    def _run(self, action: m.Action, menu: m.IvrMenu) -> list[Command]:
        match action:
            case m.TransferUser(user_id=uid):
                user = self.view.user(self.tenant_id, uid)
                if user is None:
                    return self._close("unavailable", "user_not_found")
                return self._connect_user(user)
            case m.GoMenu(menu_id=mid):
                return self._enter_menu(mid, None)
            case m.Repeat():
                return self._enter_menu(menu.id, None)
            case m.Voicemail(user_id=uid):
                user = self.view.user(self.tenant_id, uid)
                if user is None:
                    return self._close("unavailable", "user_not_found")
                self.user = user
                return self._run_voicemail_for(user, "voicemail_disabled")
            case m.ForwardExternal(number=number):
                self.state = "connecting"
                self.forward_number = number
                return [ForwardExternal(number)]
            case m.DialByExtension():
                self.state = "extension"
                self._ext_buffer = ""
                self._ext_attempts = 0
                return [
                    CollectExtension(self.max_extension_digits, self.extension_timeout_s),
                    *self._ask_extension(None),
                ]
            case m.HangUp():
                return self._end("hang_up")
        kind = getattr(action, "type", "?")
        return self._close("unavailable", f"unknown_action:{kind}")  # pragma: no cover

    # ------------------------------------------------------------------ dial by extension

    def _ask_extension(self, before: str | None) -> list[Command]:
        out: list[Command] = []
        if before is not None:
            out.append(self._play_announcement(before))
        out.append(self._play_announcement("enter_extension"))
        self._pending = _Pending("extension_wait")
        return out

    def _extension_digit(self, d: str) -> list[Command]:
        out = self._interrupt()
        if d == "#":
            return out + self._extension_done("#")
        if d == "*":
            self._ext_buffer = ""  # start over
        else:
            self._ext_buffer += d
            if len(self._ext_buffer) >= self.max_extension_digits:
                return out + self._extension_done("max")
        out.append(self._start_timer(self.extension_timeout_s))
        return out

    def _extension_done(self, why: str) -> list[Command]:
        ext, self._ext_buffer = self._ext_buffer, ""
        user = self.view.user_by_extension(self.tenant_id, ext) if ext else None
        if user is not None:
            self._step(self.menu_id, f"extension:{ext}", "transfer_user", user.id)
            return self._connect_user(user)
        self._ext_attempts += 1
        self._step(self.menu_id, f"extension:{ext}" if ext else "timeout", "invalid")
        if self._ext_attempts >= self.max_extension_attempts:
            return self._close("invalid_extension", "invalid_extension")
        return self._ask_extension("invalid_extension" if ext else None)

    # ------------------------------------------------------------------ terminal actions

    def _connect_user(self, user: User) -> list[Command]:
        self.user = user
        if not user.forwarding_numbers:
            return self._run_voicemail_for(user, "no_forwarding_number")
        self.state = "connecting"
        return [
            ConnectUser(
                user=user,
                numbers=tuple(user.forwarding_numbers),
                strategy=user.ring_strategy,
                ring_timeout_s=user.ring_timeout_s,
            )
        ]

    def _run_voicemail_for(self, user: User, reason: str) -> list[Command]:
        self.user = user
        if user.voicemail_enabled:
            self.state = "voicemail"
            return [StartVoicemail(user)]
        return self._close("unavailable", reason)

    def _close(self, announcement: str, reason: str) -> list[Command]:
        """Play `announcement` (not interruptible), then hang up with `reason`."""
        self.state = "closing"
        self.hangup_reason = reason
        self._pending = _Pending("hangup", reason)
        out: list[Command] = []
        if self._timer_running:
            self._timer_running = False
            out.append(CancelTimer())
        out.append(self._play_announcement(announcement, interruptible=False))
        return out

    def _end(self, reason: str) -> list[Command]:
        out: list[Command] = []
        if self._timer_running:
            self._timer_running = False
            out.append(CancelTimer())
        self.state = "ended"
        self.hangup_reason = reason
        self._pending = _Pending()
        out.append(Hangup(reason))
        return out

    # ------------------------------------------------------------------ helpers

    def _interrupt(self) -> list[Command]:
        out: list[Command] = []
        if self._playing:
            self._playing = False
            self._pending = _Pending()
            out.append(StopPlayback())
        if self._timer_running:
            self._timer_running = False
            out.append(CancelTimer())
        return out

    def _play_prompt(self, prompt_id: str | None, text: str | None) -> PlayPrompt:
        self._play_seq += 1
        self._playing = True
        return PlayPrompt(prompt_id, text, interruptible=True, play_id=self._play_seq)

    def _play_announcement(self, name: str, interruptible: bool = True) -> PlayAnnouncement:
        self._play_seq += 1
        self._playing = True
        return PlayAnnouncement(name, interruptible=interruptible, play_id=self._play_seq)

    def _start_timer(self, seconds: float) -> StartTimer:
        self._timer_seq += 1
        self._timer_running = True
        return StartTimer(float(seconds), self._timer_seq)

    def _step(self, menu_id: str | None, input_: str | None, action: str, target: str | None = None) -> None:
        if len(self.path) < self.max_path:
            self.path.append(PathStep(menu_id=menu_id, input=input_, action=action, target=target))


def _target(action: object) -> str | None:
    for attr in ("menu_id", "user_id", "number"):
        value = getattr(action, attr, None)
        if isinstance(value, str):
            return value
    return None


__all__ = [
    "ANNOUNCEMENTS",
    "CancelTimer",
    "CollectExtension",
    "Command",
    "ConnectUser",
    "EndVoicemail",
    "ForwardExternal",
    "Hangup",
    "IvrSession",
    "PlayAnnouncement",
    "PlayPrompt",
    "StartTimer",
    "StartVoicemail",
    "State",
    "StopPlayback",
    "voicemail_for",
]
