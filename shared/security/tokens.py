"""Short-lived JWT access tokens and opaque rotating refresh tokens.

Access tokens are HS256 JWTs carrying tenant, user, role and the user's auth version
(`uv`), signed with the current key; verification also accepts the previous keys, so keys
rotate without logging anyone out. The API compares `uv` with the stored user's version on
every request, so a role change, a password change or a deletion ends older tokens at once.
Refresh tokens are random strings; only their SHA-256 is stored, with the family
they belong to, so a reused (already rotated) token can revoke its whole family.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

ISSUER = "cloudpbx"


class InvalidToken(Exception):
    """The token is malformed, expired, or signed with an unknown key."""


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    user_id: str
    role: str
    uv: int = 0
    """The user's auth version when the token was issued (tokens without the claim count as 0)."""


@dataclass(frozen=True)
class SigningKeys:
    current: str
    previous: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.current.encode()) < 32:
            raise ValueError("the JWT signing key must be at least 32 bytes")


def issue_access_token(keys: SigningKeys, who: Principal, now: datetime, ttl: timedelta) -> str:
    claims = {
        "iss": ISSUER,
        "sub": who.user_id,
        "tid": who.tenant_id,
        "role": who.role,
        "uv": who.uv,
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": secrets.token_hex(8),
    }
    return jwt.encode(claims, keys.current, algorithm="HS256")


def verify_access_token(keys: SigningKeys, token: str, now: datetime) -> Principal:
    for key in (keys.current, *keys.previous):
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=["HS256"],
                issuer=ISSUER,
                options={
                    "require": ["exp", "iat", "sub", "tid", "role"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        if int(claims["exp"]) <= int(now.timestamp()):
            raise InvalidToken("the access token has expired")
        uv = claims.get("uv", 0)
        if not isinstance(uv, int) or isinstance(uv, bool):
            raise InvalidToken("the access token's uv claim is not an integer")
        return Principal(str(claims["tid"]), str(claims["sub"]), str(claims["role"]), uv)
    raise InvalidToken("the access token's signature does not verify")


def new_refresh_token() -> tuple[str, str]:
    """(token for the client, digest to store)."""
    token = secrets.token_urlsafe(32)
    return token, refresh_digest(token)


def refresh_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
