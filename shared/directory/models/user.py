"""Users (staff of a tenant).

Three shapes, kept apart on purpose:
- `User`: the stored ConfigDB document (`t/{tenant_id}/user/{id}`). Holds `password_hash` and
  `voicemail_pin_hash`; never returned by the API.
- `UserCreate` / `UserUpdate`: request bodies. They carry a *plain* `voicemail_pin` and `password`,
  which the API hashes (argon2) before building/updating a `User`.
- `UserOut`: the response body, without any secret.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from shared.values import E164, Id, InputModel, OutputModel, PatchModel, StoredModel, UtcDatetime

# --------------------------------------------------------------------------- value types

_EMAIL_RE = re.compile(
    r"^[a-z0-9!#$%&'*+=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+=?^_`{|}~-]+)*"
    r"@([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)


def _check_email(value: str) -> str:
    text = value.strip().lower()
    if len(text) > 254 or not _EMAIL_RE.fullmatch(text) or len(text.split("@")[0]) > 64:
        raise ValueError(f"{value!r} is not a valid email address, e.g. ann@example.com")
    return text


Email = Annotated[
    str,
    Field(strict=True, examples=["ann@example.com"], json_schema_extra={"format": "email", "maxLength": 254}),
    AfterValidator(_check_email),
]
"""An email address (dot-atom local part, DNS domain with a TLD), stripped and lower-cased."""


def _check_extension(value: str) -> str:
    if not re.fullmatch(r"\d{2,6}", value):
        raise ValueError(f"{value!r} is not an extension: 2 to 6 digits, e.g. '101'")
    return value


Extension = Annotated[
    str,
    Field(strict=True, examples=["101"], json_schema_extra={"pattern": "^[0-9]{2,6}$"}),
    AfterValidator(_check_extension),
]
"""2-6 digits, kept as a string so leading zeros survive. Uniqueness per tenant is the API's job
(index `t/{tid}/idx/ext/{ext}`)."""


def _check_pin(value: str) -> str:
    if not re.fullmatch(r"\d{4,10}", value):
        raise ValueError("voicemail PIN must be 4 to 10 digits")
    return value


VoicemailPin = Annotated[
    str, Field(strict=True, json_schema_extra={"pattern": "^[0-9]{4,10}$"}), AfterValidator(_check_pin)
]
Password = Annotated[str, Field(strict=True, min_length=8, max_length=256)]


def _check_forwarding(value: list[str]) -> list[str]:
    seen: set[str] = set()
    for i, number in enumerate(value):
        if number in seen:
            raise ValueError(f"forwarding number {number} is listed twice (position {i})")
        seen.add(number)
    return value


ForwardingNumbers = Annotated[list[E164], Field(max_length=10), AfterValidator(_check_forwarding)]
"""Up to 10 distinct E.164 numbers, in ring order."""

RingTimeout = Annotated[int, Field(strict=True, ge=5, le=120)]


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"


class RingStrategy(enum.StrEnum):
    SEQUENTIAL = "sequential"  # one forwarding number after another, ring_timeout_s each
    SIMULTANEOUS = "simultaneous"  # all at once for ring_timeout_s


class NotifyOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email_on_voicemail: bool = True
    sms_on_voicemail: bool = False
    push_on_voicemail: bool = True
    email_on_missed: bool = False
    sms_on_missed: bool = False
    push_on_missed: bool = True


_NAME = dict(min_length=1, max_length=100)

# --------------------------------------------------------------------------- stored


class User(StoredModel):
    id: Id
    tenant_id: Id
    name: str = Field(**_NAME)
    email: Email
    role: Role = Role.MEMBER
    extension: Extension | None = None
    forwarding_numbers: ForwardingNumbers = Field(default_factory=list)
    ring_strategy: RingStrategy = RingStrategy.SEQUENTIAL
    ring_timeout_s: RingTimeout = 25
    voicemail_enabled: bool = True
    voicemail_pin_hash: str | None = None
    recording_enabled: bool = False
    notify: NotifyOptions = Field(default_factory=NotifyOptions)
    password_hash: str | None = None
    marketing_consent: bool = False
    """The user agreed to marketing email (asked at sign-up); synced to the marketing system."""
    pending_email: Email | None = None
    """A new address waiting for its verification link; `email` (and the login) change only then."""
    auth_version: int = Field(default=0, ge=0)
    """Bumped by a role change, a password change or reset: access tokens carry it (`uv`), and
    tokens and refresh tokens issued under an older version stop working."""
    created_at: UtcDatetime
    updated_at: UtcDatetime | None = None

    def to_out(self) -> UserOut:
        return UserOut.from_user(self)


# --------------------------------------------------------------------------- API shapes


class UserCreate(InputModel):
    name: str = Field(**_NAME)
    email: Email
    role: Role = Role.MEMBER
    extension: Extension | None = None
    forwarding_numbers: ForwardingNumbers = Field(default_factory=list)
    ring_strategy: RingStrategy = RingStrategy.SEQUENTIAL
    ring_timeout_s: RingTimeout = 25
    voicemail_enabled: bool = True
    voicemail_pin: VoicemailPin | None = None
    recording_enabled: bool = False
    notify: NotifyOptions = Field(default_factory=NotifyOptions)
    password: Password | None = None

    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"voicemail_pin", "password"})

    def to_user(
        self,
        *,
        id: str,
        tenant_id: str,
        created_at: object,
        voicemail_pin_hash: str | None = None,
        password_hash: str | None = None,
    ) -> User:
        """The stored document; the caller passes the hashes of `voicemail_pin` and `password`."""
        data = self.model_dump(exclude=self.SECRET_FIELDS)
        return User.model_validate(
            {
                **data,
                "id": id,
                "tenant_id": tenant_id,
                "created_at": created_at,
                "voicemail_pin_hash": voicemail_pin_hash,
                "password_hash": password_hash,
            }
        )


class UserUpdate(PatchModel):
    """Partial update. `extension` may be null (remove the extension); `voicemail_pin`/`password`
    are plain and must be hashed by the API (use `apply_patch(user, upd, skip=UserUpdate.SECRET_FIELDS)`).

    `email` does not change the address at once: it becomes `pending_email` until the link sent
    to it is followed. A user changing their own `password` or `email` sends `current_password`.
    """

    _nullable: ClassVar[frozenset[str]] = frozenset({"extension"})
    SECRET_FIELDS: ClassVar[frozenset[str]] = frozenset({"voicemail_pin", "password", "current_password"})

    name: str | None = Field(default=None, **_NAME)
    email: Email | None = None
    role: Role | None = None
    extension: Extension | None = None
    forwarding_numbers: ForwardingNumbers | None = None
    ring_strategy: RingStrategy | None = None
    ring_timeout_s: RingTimeout | None = None
    voicemail_enabled: bool | None = None
    voicemail_pin: VoicemailPin | None = None
    recording_enabled: bool | None = None
    notify: NotifyOptions | None = None
    password: Password | None = None
    marketing_consent: bool | None = None
    current_password: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Your current password: required to change your own password or email.",
    )


class UserOut(OutputModel):
    """A user as the API returns it: no password or PIN hash; `has_voicemail_pin` instead."""

    id: str
    tenant_id: str
    name: str
    email: str
    role: Role
    extension: str | None
    forwarding_numbers: list[str]
    ring_strategy: RingStrategy
    ring_timeout_s: int
    voicemail_enabled: bool
    has_voicemail_pin: bool = False
    recording_enabled: bool
    notify: NotifyOptions
    marketing_consent: bool = False
    pending_email: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime | None = None

    @classmethod
    def from_user(cls, user: User) -> UserOut:
        data = user.model_dump(exclude={"password_hash", "voicemail_pin_hash", "auth_version"})
        return cls.model_validate({**data, "has_voicemail_pin": user.voicemail_pin_hash is not None})
