"""IVR menus (auto attendants).

Call-flow semantics the edge implements and `shared.directory.services.ivr_validation` reasons about:
- the menu plays its greeting, then waits up to `timeout_s` for one digit;
- a digit listed in `options` runs its action;
- a digit not listed is an invalid input: the menu is replayed, and once `max_invalid` invalid
  inputs have been counted in this menu the `on_invalid` action runs instead;
- no digit within `timeout_s` runs `on_timeout` (default: `repeat`).

Stored shape (`IvrMenu`): `options` is a dict digit -> action, so a JSON pointer into a stored
menu reads `/options/3/menu_id`. Request shape (`IvrMenuCreate`/`IvrMenuUpdate`): `options` is a
list of `{"digit", "action"}`, so duplicates can be sent and reported at `/options/<i>/digit`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.values import E164, Id, InputModel, OutputModel, PatchModel, StoredModel, UtcDatetime

Digit = Literal["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "#"]
DIGITS: tuple[str, ...] = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "*", "#")


# --------------------------------------------------------------------------- greeting


class Greeting(BaseModel):
    """Exactly one of `prompt_id` (an uploaded recording in the `prompts` container) or `text`.
    A text greeting is stored as written; there is no text-to-speech yet, so callers hear a short
    chime in its place."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_id: Id | None = None
    text: str | None = Field(default=None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _exactly_one(self) -> Greeting:
        if (self.prompt_id is None) == (self.text is None):
            raise ValueError("greeting needs exactly one of 'prompt_id' or 'text'")
        return self


# --------------------------------------------------------------------------- actions


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TransferUser(_Action):
    type: Literal["transfer_user"] = "transfer_user"
    user_id: Id


class GoMenu(_Action):
    type: Literal["go_menu"] = "go_menu"
    menu_id: Id


class Voicemail(_Action):
    type: Literal["voicemail"] = "voicemail"
    user_id: Id


class ForwardExternal(_Action):
    type: Literal["forward_external"] = "forward_external"
    number: E164


class DialByExtension(_Action):
    type: Literal["dial_by_extension"] = "dial_by_extension"


class Repeat(_Action):
    type: Literal["repeat"] = "repeat"


class HangUp(_Action):
    type: Literal["hang_up"] = "hang_up"


Action = Annotated[
    TransferUser | GoMenu | Voicemail | ForwardExternal | DialByExtension | Repeat | HangUp,
    Field(discriminator="type"),
]
"""Discriminated on `type`."""

TERMINAL_ACTIONS: frozenset[str] = frozenset(
    {"transfer_user", "voicemail", "forward_external", "dial_by_extension", "hang_up"}
)
"""Action types that leave the menu graph (the call goes somewhere or ends)."""


def is_terminal(action: BaseModel) -> bool:
    return getattr(action, "type", None) in TERMINAL_ACTIONS


# --------------------------------------------------------------------------- menus

_NAME = dict(min_length=1, max_length=100)
TimeoutS = Annotated[int, Field(strict=True, ge=1, le=60)]
MaxInvalid = Annotated[int, Field(strict=True, ge=1, le=10)]


class MenuOption(BaseModel):
    """One entry of the request-shape option list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    digit: Digit
    action: Action


class IvrMenu(StoredModel):
    id: Id
    tenant_id: Id
    name: str = Field(**_NAME)
    greeting: Greeting
    options: dict[Digit, Action] = Field(default_factory=dict)
    timeout_s: TimeoutS = 8
    max_invalid: MaxInvalid = 3
    on_timeout: Action = Field(default_factory=Repeat)
    on_invalid: Action = Field(default_factory=HangUp)
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None

    def option_list(self) -> list[MenuOption]:
        """Options in keypad order, in the request/response list shape."""
        return [MenuOption(digit=d, action=self.options[d]) for d in DIGITS if d in self.options]  # type: ignore[arg-type]


def _options_dict(options: list[MenuOption]) -> dict[str, object]:
    seen: set[str] = set()
    out: dict[str, object] = {}
    for i, opt in enumerate(options):
        if opt.digit in seen:
            raise ValueError(f"digit {opt.digit!r} appears twice in options (entry {i})")
        seen.add(opt.digit)
        out[opt.digit] = opt.action
    return out


class IvrMenuCreate(InputModel):
    """POST body. Duplicate digits are accepted by the model so that
    `validate_menu_change` can report them with a pointer; `to_menu` refuses them."""

    name: str = Field(**_NAME)
    greeting: Greeting
    options: list[MenuOption] = Field(default_factory=list, max_length=12)
    timeout_s: TimeoutS = 8
    max_invalid: MaxInvalid = 3
    on_timeout: Action = Field(default_factory=Repeat)
    on_invalid: Action = Field(default_factory=HangUp)

    def to_menu(self, *, id: str, tenant_id: str, created_at: object = None) -> IvrMenu:
        data = self.model_dump(exclude={"options"})
        return IvrMenu.model_validate(
            {
                **data,
                "options": _options_dict(self.options),
                "id": id,
                "tenant_id": tenant_id,
                "created_at": created_at,
            }
        )


class IvrMenuUpdate(PatchModel):
    """PATCH body; `options`, when sent, replaces the whole option list."""

    name: str | None = Field(default=None, **_NAME)
    greeting: Greeting | None = None
    options: list[MenuOption] | None = Field(default=None, max_length=12)
    timeout_s: TimeoutS | None = None
    max_invalid: MaxInvalid | None = None
    on_timeout: Action | None = None
    on_invalid: Action | None = None

    def apply_to(self, menu: IvrMenu, *, updated_at: object = None) -> IvrMenu:
        """A new stored menu with this update applied (raises ValueError on duplicate digits)."""
        data = menu.model_dump()
        for key in self.model_fields_set:
            value = getattr(self, key)
            data[key] = _options_dict(value) if key == "options" else value
        if updated_at is not None:
            data["updated_at"] = updated_at
        return IvrMenu.model_validate(data)


class IvrMenuOut(OutputModel):
    """Response shape: options as the same list the client sends."""

    id: str
    tenant_id: str
    name: str
    greeting: Greeting
    options: list[MenuOption]
    timeout_s: int
    max_invalid: int
    on_timeout: Action
    on_invalid: Action
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None

    @classmethod
    def from_menu(cls, menu: IvrMenu) -> IvrMenuOut:
        data = menu.model_dump()
        data["options"] = [o.model_dump() for o in menu.option_list()]
        return cls.model_validate(data)
