"""Accounts and users rules that decide before touching storage.

The only fakes are a fixed clock and a recording bus. The repository is a real ConfigRepo pointed
at a closed port: a test that reached storage would fail with Unavailable, which proves the rule
under test answers first (the storage paths are covered by tests/integration/test_api_accounts.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest

from functions.devhost.messages import decode_body
from functions.http_api.deps import if_match
from shared.adapters.config_repo import ConfigRepo
from shared.adapters.storage_queue_bus import encode_message
from shared.configdb import AsyncConfigDBClient
from shared.directory.models.tenant import TenantPatch
from shared.directory.models.user import Role, User, UserCreate
from shared.directory.services.accounts import (
    AccountsConfig,
    AccountsService,
    Forbidden,
    InvalidField,
    LoginIn,
    SignupIn,
    Throttled,
    WrongRegion,
)
from shared.directory.services.users import TenantService, UsersService, field_of_conflict
from shared.errors import DomainError
from shared.security.rate_limit import AuthLimits, Limit, MemoryCounterStore, Throttle
from shared.security.tokens import Principal, SigningKeys, verify_access_token

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
KEYS = SigningKeys(current="k" * 32)
TID, OWNER, MEMBER = "01J0000000000000000000000A", "01J0000000000000000000000B", "01J0000000000000000000000C"


class FixedClock:
    def __init__(self, now: dt.datetime = NOW) -> None:
        self.at = now

    def now(self) -> dt.datetime:
        return self.at


class RecordingBus:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], str]] = []

    async def send(self, queue: str, body: dict[str, Any], message_id: str) -> None:
        self.sent.append((queue, body, message_id))


@pytest.fixture
def unreachable_repo() -> Iterator[ConfigRepo]:
    db = AsyncConfigDBClient(["http://127.0.0.1:9"], "token", retries=0, timeout=0.2)
    yield ConfigRepo(db)
    asyncio.run(db.aclose())


def service(repo: ConfigRepo, bus: RecordingBus, throttle: Throttle | None = None) -> AccountsService:
    config = AccountsConfig(
        region="eus",
        region_base_urls={"eus": "https://eus.example/api", "weu": "https://weu.example/api"},
        public_base_url="https://app.example",
        keys=KEYS,
    )
    return AccountsService(repo, bus, FixedClock(), config, throttle or Throttle(MemoryCounterStore()))


def signup(region: str) -> SignupIn:
    return SignupIn(company="Acme", name="Ann", email="ann@acme.test", password="long enough", region=region)


def test_signup_for_another_region_redirects_without_writing(unreachable_repo: ConfigRepo) -> None:
    bus = RecordingBus()
    with pytest.raises(WrongRegion) as moved:
        asyncio.run(service(unreachable_repo, bus).signup(signup("weu")))
    assert moved.value.location == "https://weu.example/api/v1/signup"
    with pytest.raises(InvalidField) as unknown:
        asyncio.run(service(unreachable_repo, bus).signup(signup("mars")))
    assert unknown.value.pointer == "/region" and unknown.value.status == 422
    assert "eus, weu" in unknown.value.message
    assert bus.sent == []


def test_login_is_throttled_per_account_and_per_address_before_any_lookup(
    unreachable_repo: ConfigRepo,
) -> None:
    limits = AuthLimits(login_account=Limit("acct", 2, 60), login_address=Limit("addr", 3, 60))
    throttle = Throttle(MemoryCounterStore(), limits)
    accounts = service(unreachable_repo, RecordingBus(), throttle)
    t0 = NOW.timestamp()  # 09:30:00, the start of a 60 s window

    async def fail(account: str, address: str, at: float) -> None:
        await throttle.hit([(limits.login_account, account), (limits.login_address, address)], at)

    asyncio.run(fail("ann@acme.test", "10.0.0.1", t0 + 1))
    asyncio.run(fail("ann@acme.test", "10.0.0.2", t0 + 5))
    accounts.clock = FixedClock(NOW + dt.timedelta(seconds=10))
    with pytest.raises(Throttled) as slow:
        asyncio.run(accounts.login(LoginIn(email="ann@acme.test", password="x"), "10.0.0.3"))
    assert slow.value.retry_after == 50 and slow.value.error_id == "throttled"  # the window ends in 50 s
    # per address: three failures for different accounts from one address
    for n in range(3):
        asyncio.run(fail(f"u{n}@acme.test", "10.9.9.9", t0 + 1))
    with pytest.raises(Throttled) as per_address:
        asyncio.run(accounts.login(LoginIn(email="bob@acme.test", password="x"), "10.9.9.9"))
    assert per_address.value.retry_after == 50


def test_token_pair_carries_tenant_user_and_role() -> None:
    accounts = service(ConfigRepo(None), RecordingBus())  # type: ignore[arg-type]
    user = User(id=OWNER, tenant_id=TID, name="Ann", email="ann@acme.test", role=Role.ADMIN, created_at=NOW)
    pair = accounts._pair(user, "opaque")
    assert pair.token_type == "bearer" and pair.expires_in == 900 and pair.refresh_token == "opaque"
    who = verify_access_token(KEYS, pair.access_token, NOW + dt.timedelta(minutes=14))
    assert who == Principal(TID, OWNER, "admin")


def owner() -> Principal:
    return Principal(TID, OWNER, "owner")


def member() -> Principal:
    return Principal(TID, MEMBER, "member")


def user(uid: str, role: Role) -> User:
    return User(id=uid, tenant_id=TID, name="U", email=f"{uid.lower()}@a.test", role=role, created_at=NOW)


def test_edit_rules() -> None:
    may = UsersService._may_edit
    may(member(), user(MEMBER, Role.MEMBER), None)  # themselves
    may(member(), user(MEMBER, Role.MEMBER), "member")  # same role is no change
    with pytest.raises(Forbidden, match="other users"):
        may(member(), user(OWNER, Role.OWNER), None)
    with pytest.raises(Forbidden, match="roles"):
        may(member(), user(MEMBER, Role.MEMBER), "admin")
    admin = Principal(TID, "01J0000000000000000000000D", "admin")
    may(admin, user(MEMBER, Role.MEMBER), "admin")
    with pytest.raises(Forbidden, match="owner role"):
        may(admin, user(MEMBER, Role.MEMBER), "owner")
    with pytest.raises(Forbidden, match="owner role"):
        may(admin, user(OWNER, Role.OWNER), "member")
    may(owner(), user(MEMBER, Role.MEMBER), "owner")


def test_members_cannot_create_users_or_patch_the_tenant(unreachable_repo: ConfigRepo) -> None:
    clock = FixedClock()
    with pytest.raises(Forbidden):
        asyncio.run(
            UsersService(unreachable_repo, clock).create(member(), UserCreate(name="N", email="n@a.test"))
        )
    with pytest.raises(Forbidden, match="owner"):
        admin = Principal(TID, OWNER, "admin")
        body = UserCreate(name="N", email="n@a.test", role=Role.OWNER)
        asyncio.run(UsersService(unreachable_repo, clock).create(admin, body))
    with pytest.raises(Forbidden):
        asyncio.run(TenantService(unreachable_repo, clock).update(member(), TenantPatch(name="x"), None))


def test_conflicting_keys_name_their_field() -> None:
    assert field_of_conflict("idx/email/a@b.test") == "email"
    assert field_of_conflict(f"t/{TID}/idx/ext/101") == "extension"
    assert field_of_conflict(f"t/{TID}/user/{OWNER}") == "id"


def test_queue_message_decodes_like_the_functions_host() -> None:
    text = encode_message({"kind": "verify", "to": "ann@acme.test", "text": "token=abc"}, "verify-1")
    body = json.loads(decode_body(text, "base64"))
    assert body == {
        "message_id": "verify-1",
        "schema_version": 1,
        "kind": "verify",
        "to": "ann@acme.test",
        "text": "token=abc",
    }


@pytest.mark.parametrize(
    ("header", "revision"), [(None, None), ("*", None), ('"12"', 12), ('W/"7"', 7), ("42", 42)]
)
def test_if_match_parsing(header: str | None, revision: int | None) -> None:
    assert if_match(header) == revision


@pytest.mark.parametrize("header", ["abc", '"12', '"-1"', '"1", "2"'])
def test_if_match_garbage_is_a_failed_precondition(header: str) -> None:
    with pytest.raises(DomainError) as failed:
        if_match(header)
    assert failed.value.status == 412
