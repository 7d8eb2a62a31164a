"""Validation of client keys and values (pure)."""

from __future__ import annotations

import re

MAX_KEY_BYTES = 1024
MAX_VALUE_BYTES = 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class InvalidKey(ValueError):
    pass


def validate_key(key: str) -> bytes:
    """Return the key's UTF-8 bytes, or raise InvalidKey saying what is wrong."""
    if not key:
        raise InvalidKey("key is empty")
    if _CONTROL.search(key):
        raise InvalidKey("key holds control characters")
    raw = key.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_KEY_BYTES:
        raise InvalidKey(f"key is {len(raw)} bytes; the limit is {MAX_KEY_BYTES}")
    return raw


def validate_prefix(prefix: str) -> bytes:
    """A prefix may be empty (every key) but otherwise follows the key rules."""
    return validate_key(prefix) if prefix else b""
