"""Who may do what, and which path ids can exist: small rules shared by the services."""

from __future__ import annotations

from shared.directory.models.user import Role
from shared.errors import NotFoundError
from shared.security.tokens import Principal
from shared.values import is_id

MANAGERS = frozenset({Role.OWNER.value, Role.ADMIN.value})


def is_manager(who: Principal) -> bool:
    return who.role in MANAGERS


def existing_id(value: str, what: str) -> str:
    """A path id in canonical form; anything that is not a ULID or UUID4 cannot exist (404)."""
    if not is_id(value):
        raise NotFoundError(what)
    return value.upper() if len(value) == 26 else value.lower()
