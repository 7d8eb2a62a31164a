"""Access tokens verified once per process: `VerifiedTokens`.

A verified token's principal and expiry are kept until the token expires (its `exp`), so later
requests with it cost a dictionary lookup instead of an HMAC and a JSON decode.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

import orjson

from shared.security.tokens import Principal, SigningKeys, verify_access_token


class VerifiedTokens:
    """Access tokens whose signature verified, with their principal and expiry (per process).

    A hit is checked against the token's own `exp`, so an expired token fails as before; the
    signing keys are fixed for the life of the process (settings), so a verified signature
    stays verified. At most `size` tokens are kept (the table is cleared when full)."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._known: dict[str, tuple[Principal, int]] = {}

    def verify(self, keys: SigningKeys, token: str, now: datetime) -> Principal:
        hit = self._known.get(token)
        if hit is not None and hit[1] > int(now.timestamp()):
            return hit[0]
        who = verify_access_token(keys, token, now)  # raises InvalidToken, expiry included
        exp = _expiry(token)
        if exp is not None:
            if len(self._known) >= self.size:
                self._known.clear()
            self._known[token] = (who, exp)
        return who


def _expiry(token: str) -> int | None:
    """The `exp` claim of a token whose signature was verified (None if it cannot be read)."""
    try:
        payload = token.split(".")[1]
        claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error, orjson.JSONDecodeError):
        return None
