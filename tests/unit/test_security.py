"""Passwords, access and refresh tokens, and login throttling."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.security.passwords import hash_secret, verify_secret
from shared.security.rate_limit import LoginThrottle, SlidingWindow
from shared.security.tokens import (
    InvalidToken,
    Principal,
    SigningKeys,
    issue_access_token,
    new_refresh_token,
    refresh_digest,
    verify_access_token,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEY = "k" * 40


def test_argon2_hashes_verify_and_never_store_the_secret() -> None:
    h = hash_secret("correct horse")
    assert h.startswith("$argon2id$") and "correct horse" not in h
    assert verify_secret(h, "correct horse")
    assert not verify_secret(h, "wrong")
    assert not verify_secret("not-a-hash", "x")


def test_access_token_round_trip_expiry_and_rotation() -> None:
    who = Principal("t1", "u1", "admin")
    keys = SigningKeys(KEY)
    tok = issue_access_token(keys, who, NOW, timedelta(minutes=15))
    assert verify_access_token(keys, tok, NOW + timedelta(minutes=14)) == who
    with pytest.raises(InvalidToken, match="expired"):
        verify_access_token(keys, tok, NOW + timedelta(minutes=15))
    rotated = SigningKeys("n" * 40, previous=(KEY,))
    assert verify_access_token(rotated, tok, NOW) == who
    with pytest.raises(InvalidToken):
        verify_access_token(SigningKeys("z" * 40), tok, NOW)
    with pytest.raises(InvalidToken):
        verify_access_token(keys, tok + "x", NOW)
    with pytest.raises(ValueError, match="32 bytes"):
        SigningKeys("short")


def test_refresh_tokens_are_random_and_stored_as_digests() -> None:
    a, da = new_refresh_token()
    b, _db = new_refresh_token()
    assert a != b and da == refresh_digest(a) and a not in da


def test_sliding_window_and_retry_after() -> None:
    w = SlidingWindow(limit=2, window_s=10)
    assert w.retry_after("k", 0) == 0
    w.hit("k", 0)
    w.hit("k", 1)
    assert w.retry_after("k", 2) == pytest.approx(8)
    assert w.retry_after("k", 10.5) == 0


def test_login_throttle_per_account_and_per_address() -> None:
    t = LoginThrottle(per_account=SlidingWindow(3, 60), per_address=SlidingWindow(5, 60))
    for i in range(3):
        t.failed("a@x", "1.1.1.1", i)
    assert t.retry_after("a@x", "2.2.2.2", 3) > 0  # the account is locked from any address
    assert t.retry_after("b@x", "1.1.1.1", 3) == 0
    t.failed("b@x", "1.1.1.1", 4)
    t.failed("c@x", "1.1.1.1", 5)
    assert t.retry_after("d@x", "1.1.1.1", 6) > 0  # the address is throttled for every account
    t.succeeded("a@x")
    assert t.retry_after("a@x", "9.9.9.9", 7) == 0
