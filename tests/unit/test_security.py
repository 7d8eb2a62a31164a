"""Passwords, access and refresh tokens, and login throttling."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from shared.security.passwords import hash_secret, verify_secret
from shared.security.rate_limit import AuthLimits, Limit, MemoryCounterStore, Throttle
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


def test_fixed_window_retry_after_counts_to_the_end_of_the_window() -> None:
    limit = Limit("x", limit=2, window_s=60)
    assert limit.window_start(125.0) == 120
    assert limit.retry_after(125.0) == 55
    assert limit.retry_after(179.5) == 1  # never 0 while blocked


def test_throttle_per_account_and_per_address() -> None:
    limits = AuthLimits(login_account=Limit("acct", 3, 60), login_address=Limit("addr", 5, 60))
    t = Throttle(MemoryCounterStore(), limits)

    def checks(account: str, address: str) -> list[tuple[Limit, str]]:
        return [(limits.login_account, account), (limits.login_address, address)]

    async def scenario() -> None:
        for i in range(3):
            await t.hit(checks("a@x", "1.1.1.1"), i)
        assert await t.retry_after(checks("a@x", "2.2.2.2"), 3) == 57  # the account, from any address
        assert await t.retry_after(checks("b@x", "1.1.1.1"), 3) == 0
        await t.hit(checks("b@x", "1.1.1.1"), 4)
        await t.hit(checks("c@x", "1.1.1.1"), 5)
        assert await t.retry_after(checks("d@x", "1.1.1.1"), 6) > 0  # the address, for every account
        await t.reset(limits.login_account, "a@x")
        assert await t.retry_after(checks("a@x", "9.9.9.9"), 7) == 0
        assert await t.retry_after(checks("d@x", "1.1.1.1"), 60) == 0  # a new window

    asyncio.run(scenario())


def test_consume_counts_only_what_it_allows_and_the_stores_stay_bounded() -> None:
    store = MemoryCounterStore(max_entries=3)
    t = Throttle(store, cache_size=2)
    limit = Limit("signup", 2, 3600)

    async def scenario() -> None:
        assert [await t.consume([(limit, "ip")], 10) for _ in range(3)] == [0, 0, 3590]
        assert await store.count("signup", "ip", 0) == 2  # the refused one was not counted
        for n in range(10):
            await t.consume([(Limit("other", 1, 60), f"s{n}")], 10)
            await t.consume([(Limit("other", 1, 60), f"s{n}")], 10)
        assert len(store._counts) <= 3 and len(t._blocked) <= 2

    asyncio.run(scenario())
