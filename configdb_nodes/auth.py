"""Client credentials of a node: a small table of bearer tokens, each with a scope.

A scope is an access level over key prefixes:

- `read`: GET and list keys, snapshot and watch prefixes, under its prefixes;
- `write`: the same, plus PUT, DELETE and transactions whose every key lies under its prefixes;
- `admin`: everything, on every key.

Every valid token may read `/v1/status` and `/v1/discovery`; `/healthz`, `/readyz` and
`/metrics` need no token (http_api.PUBLIC_PATHS). The table is configured as JSON
(`CONFIGDB_TOKENS` or `--tokens-file`), a list of
`{"name": "edge", "token": "..." | "sha256": "<hex>", "access": "read", "prefixes": ["t/", "idx/"]}`
(prefixes default to every key); the shard's `CONFIGDB_TOKEN` is the admin entry. Tokens are
held as SHA-256 digests and compared with `hmac.compare_digest`, every entry each time.
The Raft peers' token is not in this table: the peer port checks its own.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

Access = Literal["read", "write", "admin"]


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class TokenScope:
    name: str
    access: Access
    prefixes: tuple[str, ...] = ("",)

    def covers(self, key_or_prefix: str) -> bool:
        """The key, or every key under the prefix, lies under one of the scope's prefixes."""
        return self.access == "admin" or any(key_or_prefix.startswith(p) for p in self.prefixes)

    def may_read(self, key_or_prefix: str) -> bool:
        return self.covers(key_or_prefix)

    def may_write(self, key: str) -> bool:
        return self.access != "read" and self.covers(key)

    def describe(self) -> str:
        if self.access == "admin":
            return f"the {self.name} token (admin)"
        where = ", ".join(repr(p) for p in self.prefixes)
        return f"the {self.name} token ({self.access} under {where})"


class TokenEntry(BaseModel):
    """One entry of CONFIGDB_TOKENS / --tokens-file."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    token: str | None = Field(default=None, min_length=16)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    access: Access
    prefixes: list[str] = Field(default_factory=lambda: [""], min_length=1)

    @model_validator(mode="after")
    def _one_secret(self) -> TokenEntry:
        if (self.token is None) == (self.sha256 is None):
            raise ValueError(f"token entry {self.name!r} holds exactly one of 'token' or 'sha256'")
        return self

    @property
    def digest(self) -> bytes:
        return digest(self.token) if self.token is not None else bytes.fromhex(self.sha256 or "")


_ENTRIES = TypeAdapter(list[TokenEntry])


class TokenTableError(ValueError):
    """The token table does not parse, or two entries share a token."""


class TokenTable:
    def __init__(self, entries: list[tuple[bytes, TokenScope]]) -> None:
        seen: set[bytes] = set()
        for d, scope in entries:
            if d in seen:
                raise TokenTableError(f"the {scope.name} token is also another entry's token")
            seen.add(d)
        self._entries = list(entries)

    @classmethod
    def build(cls, admin_token: str, table_json: str | None = None) -> TokenTable:
        """The admin token plus the entries of `table_json` (None or blank: none)."""
        entries = [(digest(admin_token), TokenScope("admin", "admin"))]
        for entry in parse_entries(table_json):
            entries.append((entry.digest, TokenScope(entry.name, entry.access, tuple(entry.prefixes))))
        return cls(entries)

    def lookup(self, token: str) -> TokenScope | None:
        """The scope of `token`, or None. Compares against every entry, found or not."""
        given = digest(token)
        found: TokenScope | None = None
        for d, scope in self._entries:
            if hmac.compare_digest(given, d):
                found = scope
        return found

    def holds(self, token: str) -> bool:
        return self.lookup(token) is not None

    def digests(self) -> list[tuple[str, bytes]]:
        return [(scope.name, d) for d, scope in self._entries]


def parse_entries(table_json: str | None) -> list[TokenEntry]:
    if table_json is None or not table_json.strip():
        return []
    try:
        return _ENTRIES.validate_json(table_json)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = "/".join(str(p) for p in first["loc"])
        raise TokenTableError(
            f"the token table does not validate at {where or '/'}: {first['msg']}"
        ) from None
