"""Media links under a managed identity: signed with a user delegation key (never an account key),
one key reused until its renewal time, a key-service failure is `Unavailable`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from urllib.parse import parse_qs, urlsplit

import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from azure.storage.blob import BlobSasPermissions, UserDelegationKey, generate_blob_sas

from shared.adapters import blob_media
from shared.adapters.azure_credentials import StorageEndpoint
from shared.adapters.blob_media import BlobMedia
from shared.adapters.blob_sas import KEY_LIFETIME, RENEW_AFTER, UserDelegationSigner
from shared.errors import Unavailable

T0 = dt.datetime(2026, 12, 3, 6, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=5)
ACCOUNT_URL = "https://pbxprod.blob.core.windows.net"


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class KeyService:
    """Stands for `BlobServiceClient.get_user_delegation_key`: a new key per call, or an error."""

    def __init__(self) -> None:
        self.calls: list[tuple[dt.datetime, dt.datetime]] = []
        self.keys: list[UserDelegationKey] = []
        self.error: Exception | None = None

    def __call__(self, start: dt.datetime, expiry: dt.datetime) -> UserDelegationKey:
        self.calls.append((start, expiry))
        if self.error is not None:
            raise self.error
        key = UserDelegationKey()
        key.signed_oid = "6f1c2e2a-0000-4000-8000-00000000000a"
        key.signed_tid = "72f988bf-0000-4000-8000-00000000000b"
        key.signed_start = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_expiry = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        key.signed_service = "b"
        key.signed_version = "2025-11-05"
        key.value = base64.b64encode(f"delegation-key-{len(self.calls)}".encode()).decode()
        self.keys.append(key)
        return key


class Token:
    """A token credential that is never asked: signing needs no token once it has a key."""

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        raise AssertionError("no request is made in these tests")


def query(url_or_sas: str) -> dict[str, str]:
    text = urlsplit(url_or_sas).query if "://" in url_or_sas else url_or_sas
    return {k: v[0] for k, v in parse_qs(text).items()}


def signer(keys: KeyService, clock: Clock) -> UserDelegationSigner:
    return UserDelegationSigner("pbxprod", keys, clock)


def sign_at(s: UserDelegationSigner, now: dt.datetime, name: str = "t1/p1/pcm8k.wav") -> dict[str, str]:
    return query(
        s.sign("prompts", name, start=now - dt.timedelta(minutes=1), expiry=now + TTL, protocol="https")
    )


def test_the_link_carries_the_delegation_key_and_is_signed_by_it() -> None:
    keys, clock = KeyService(), Clock(T0)
    q = sign_at(signer(keys, clock), T0)
    key_start, key_expiry = keys.calls[0]
    assert key_expiry - key_start == KEY_LIFETIME + dt.timedelta(minutes=5)
    assert q["skoid"] == "6f1c2e2a-0000-4000-8000-00000000000a"
    assert q["sktid"] == "72f988bf-0000-4000-8000-00000000000b"
    assert q["skt"] == "2026-12-03T05:55:00Z" and q["ske"] == "2026-12-04T06:00:00Z"
    assert q["sks"] == "b" and q["skv"] == "2025-11-05"
    assert q["sp"] == "r" and q["sr"] == "b" and q["spr"] == "https"
    assert q["st"] == "2026-12-03T05:59:00Z" and q["se"] == "2026-12-03T06:05:00Z"

    # the signature is the HMAC of the string-to-sign under the delegation key's value
    strings: list[str] = []
    generate_blob_sas(
        "pbxprod", "prompts", "t1/p1/pcm8k.wav", user_delegation_key=keys.keys[0],
        permission=BlobSasPermissions(read=True), start=T0 - dt.timedelta(minutes=1), expiry=T0 + TTL,
        protocol="https", sts_hook=strings.append,
    )  # fmt: skip
    expected = hmac.new(b"delegation-key-1", strings[0].encode(), hashlib.sha256).digest()
    assert q["sig"] == base64.b64encode(expected).decode()


def test_one_key_is_reused_until_its_renewal_time_then_renewed() -> None:
    keys, clock = KeyService(), Clock(T0)
    s = signer(keys, clock)
    first = sign_at(s, T0)
    clock.now = T0 + RENEW_AFTER - dt.timedelta(seconds=1)
    again = sign_at(s, clock.now, "t1/p2/pcm8k.wav")
    assert len(keys.calls) == 1 and again["ske"] == first["ske"] and again["skt"] == first["skt"]

    clock.now = T0 + RENEW_AFTER
    renewed = sign_at(s, clock.now)
    assert len(keys.calls) == 2
    assert renewed["ske"] == "2026-12-04T18:00:00Z" and renewed["sig"] != first["sig"]


def test_a_link_that_would_outlive_the_key_gets_a_new_one() -> None:
    keys, clock = KeyService(), Clock(T0)
    s = signer(keys, clock)
    sign_at(s, T0)
    late = T0 + KEY_LIFETIME  # e.g. a caller's clock ahead of the process's
    q = query(s.sign("prompts", "x", start=late, expiry=late + TTL, protocol="https"))
    assert len(keys.calls) == 2 and q["ske"] >= q["se"]


@pytest.mark.parametrize(
    "error",
    [ClientAuthenticationError("no managed identity endpoint"), ServiceRequestError("connection refused")],
)
def test_a_key_service_failure_is_unavailable_and_the_next_link_asks_again(error: Exception) -> None:
    keys, clock = KeyService(), Clock(T0)
    s = signer(keys, clock)
    keys.error = error
    with pytest.raises(Unavailable, match="user delegation key"):
        sign_at(s, T0)
    keys.error = None
    assert "skoid" in sign_at(s, T0) and len(keys.calls) == 2


def test_renewal_must_come_before_the_key_expires() -> None:
    with pytest.raises(ValueError):
        UserDelegationSigner("a", KeyService(), renew_after=KEY_LIFETIME)


def test_blob_media_under_an_identity_signs_with_the_process_delegation_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys, clock = KeyService(), Clock(T0)
    monkeypatch.setitem(blob_media._delegation_signers, ACCOUNT_URL, signer(keys, clock))
    endpoint = StorageEndpoint(account_url=ACCOUNT_URL, credential=Token())  # type: ignore[arg-type]
    first, second = BlobMedia(endpoint), BlobMedia(endpoint)  # e.g. two function invocations
    assert not hasattr(first.service.credential, "account_key")
    url = first.read_url("voicemail", "t1/vm1.wav", now=T0, ttl=TTL)
    assert url.startswith(f"{ACCOUNT_URL}/voicemail/t1/vm1.wav?")
    q = query(url)
    assert q["spr"] == "https" and q["skoid"] and q["sktid"] and q["sks"] == "b"
    second.read_url("voicemail", "t1/vm2.wav", now=T0, ttl=TTL)
    assert len(keys.calls) == 1  # one key for the process
    first.close()
    second.close()


def test_blob_media_on_a_connection_string_without_a_key_cannot_sign() -> None:
    media = BlobMedia(
        "BlobEndpoint=https://pbxprod.blob.core.windows.net/;SharedAccessSignature=sv=2025&sig=x"
    )
    with pytest.raises(Unavailable, match="no account key"):
        media.read_url("prompts", "x", now=T0, ttl=TTL)
    media.close()
