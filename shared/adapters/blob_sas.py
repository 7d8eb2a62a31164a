"""Signing read-only blob links (SAS): with the account key on Azurite, with a user delegation key
under a managed identity.

A user delegation key is asked of the Blob service with the identity's token
(`BlobServiceClient.get_user_delegation_key`); links signed with it carry the key's fields
(`skoid`, `sktid`, `skt`, `ske`, `sks`, `skv`) and no account key is ever read or needed (the
storage account may have shared-key access turned off). One key serves every link of the process:
it is valid for `KEY_LIFETIME` (24 h), renewed once `RENEW_AFTER` (12 h) has passed, or earlier if
a link would outlive it. The key request is the only one signing makes: at most once per 12 h per
process, bounded by the client's timeouts. A failed key request is `Unavailable` (503 for the
caller; the next link asks again).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Protocol

from azure.core.exceptions import AzureError
from azure.storage.blob import BlobSasPermissions, UserDelegationKey, generate_blob_sas

from shared.errors import Unavailable

KEY_LIFETIME = dt.timedelta(hours=24)
RENEW_AFTER = dt.timedelta(hours=12)
KEY_START_SKEW = dt.timedelta(minutes=5)  # the key is valid from a little before now (clock skew)

KeySource = Callable[[dt.datetime, dt.datetime], UserDelegationKey]
"""Asks the Blob service for a user delegation key valid from `start` to `expiry`."""


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BlobSigner(Protocol):
    def sign(
        self, container: str, name: str, *, start: dt.datetime, expiry: dt.datetime, protocol: str
    ) -> str:
        """The SAS query string (no leading `?`) granting read of one blob."""
        ...


class AccountKeySigner:
    """Signs with the storage account key (Azurite's well-known key locally)."""

    def __init__(self, account_name: str, account_key: str) -> None:
        self.account_name = account_name
        self._account_key = account_key

    def sign(
        self, container: str, name: str, *, start: dt.datetime, expiry: dt.datetime, protocol: str
    ) -> str:
        return generate_blob_sas(
            account_name=self.account_name,
            container_name=container,
            blob_name=name,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            start=start,
            expiry=expiry,
            protocol=protocol,
        )


class UserDelegationSigner:
    """Signs with a user delegation key from `key_source`, reused until `renew_after` has passed
    since it was obtained (by `clock`), or until a link would expire after the key."""

    def __init__(
        self,
        account_name: str,
        key_source: KeySource,
        clock: Callable[[], dt.datetime] = utc_now,
        *,
        key_lifetime: dt.timedelta = KEY_LIFETIME,
        renew_after: dt.timedelta = RENEW_AFTER,
    ) -> None:
        if not dt.timedelta(0) < renew_after < key_lifetime:
            raise ValueError("renew_after must be positive and shorter than key_lifetime")
        self.account_name = account_name
        self._key_source = key_source
        self._clock = clock
        self._key_lifetime = key_lifetime
        self._renew_after = renew_after
        self._key: UserDelegationKey | None = None
        self._renew_at = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._key_expiry = dt.datetime.min.replace(tzinfo=dt.UTC)
        self._lock = threading.Lock()

    def key(self, *, valid_until: dt.datetime) -> UserDelegationKey:
        """The current key, renewed first when due or when it would expire before `valid_until`."""
        with self._lock:
            now = self._clock()
            if self._key is None or now >= self._renew_at or valid_until > self._key_expiry:
                expiry = max(now + self._key_lifetime, valid_until)
                try:
                    key = self._key_source(now - KEY_START_SKEW, expiry)
                except AzureError as exc:
                    raise Unavailable(
                        "blob storage: no user delegation key to sign links with:"
                        f" {type(exc).__name__}: {exc}"
                    ) from exc
                self._key, self._renew_at, self._key_expiry = key, now + self._renew_after, expiry
            return self._key

    def sign(
        self, container: str, name: str, *, start: dt.datetime, expiry: dt.datetime, protocol: str
    ) -> str:
        return generate_blob_sas(
            account_name=self.account_name,
            container_name=container,
            blob_name=name,
            user_delegation_key=self.key(valid_until=expiry),
            permission=BlobSasPermissions(read=True),
            start=start,
            expiry=expiry,
            protocol=protocol,
        )
