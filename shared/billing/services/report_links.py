"""Report links: what the usage-report email links to, short-lived and revocable.

A Blob SAS URL cannot be taken back before it expires, so the email does not carry one. It
carries `{api}/v1/report-links/{tenant}/{token}/{pdf|csv}`: `token` is 128 random bits naming a
`ReportLink` record (`t/{tid}/report-link/{token}`) written when the email is sent. Following the
link checks the record and answers with a 5-minute read-only SAS URL of the file:

- a link lives `LINK_TTL` (7 days), then answers 410 (`ReportLinkExpired`);
- an owner or admin revokes every report link of the tenant at once (`revoke_all`, the
  records are deleted); a revoked or unknown link answers 404 (`NotFoundError`), as does one
  of another tenant (the record is read under the tenant of the path only);
- the tenant cleaner's removal of `t/{tid}/` takes the records with it.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.billing.ports import ReportBlobs
from shared.configdb import AsyncConfigDBClient, ConfigDBUnavailable
from shared.configdb_keys import tenant_prefix
from shared.errors import DomainError, NotFoundError, Unavailable

REPORTS_CONTAINER = "reports"
LINK_TTL = dt.timedelta(days=7)
FILE_URL_TTL = dt.timedelta(minutes=5)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")

ReportFile = Literal["pdf", "csv"]


class ReportLinkExpired(DomainError):
    """410: the report link's time is over; a new report email brings new links."""

    status = 410
    error_id = "report-link-expired"
    title = "Gone"

    def __init__(self, expired_at: dt.datetime) -> None:
        super().__init__(
            f"this report link expired at {expired_at.isoformat().replace('+00:00', 'Z')}; "
            "ask for the report again",
            details={"expired_at": expired_at},
        )


class ReportLink(BaseModel):
    """The stored record of one emailed report link (ConfigDB `t/{tid}/report-link/{token}`)."""

    model_config = ConfigDict(extra="forbid")

    tenant_id: str
    user_id: str
    month: str
    csv_blob: str
    pdf_blob: str
    created_at: dt.datetime
    expires_at: dt.datetime


def links_prefix(tenant_id: str) -> str:
    return f"{tenant_prefix(tenant_id)}report-link/"


def link_key(tenant_id: str, token: str) -> str:
    if not _TOKEN.fullmatch(token):
        raise NotFoundError("report link")
    return f"{links_prefix(tenant_id)}{token}"


@dataclass
class ReportLinks:
    db: AsyncConfigDBClient
    blobs: ReportBlobs

    async def issue(
        self, tenant_id: str, user_id: str, month: str, csv_blob: str, pdf_blob: str, now: dt.datetime
    ) -> str:
        """Record a new link valid for `LINK_TTL`; returns its token."""
        token = secrets.token_urlsafe(16)
        link = ReportLink(
            tenant_id=tenant_id,
            user_id=user_id,
            month=month,
            csv_blob=csv_blob,
            pdf_blob=pdf_blob,
            created_at=now,
            expires_at=now + LINK_TTL,
        )
        try:
            await self.db.put(link_key(tenant_id, token), link.model_dump(mode="json"))
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return token

    async def file_url(self, tenant_id: str, token: str, file: ReportFile, now: dt.datetime) -> str:
        """A 5-minute SAS URL of the linked file. NotFoundError for an unknown or revoked link,
        ReportLinkExpired once it is past its time."""
        try:
            key = link_key(tenant_id, token)
        except ValueError as exc:  # not a tenant id
            raise NotFoundError("report link") from exc
        try:
            kv = await self.db.get_or_none(key)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        if kv is None:
            raise NotFoundError("report link", "no such report link (it may have been revoked)")
        link = ReportLink.model_validate(kv.value)
        if now >= link.expires_at:
            raise ReportLinkExpired(link.expires_at)
        blob = link.pdf_blob if file == "pdf" else link.csv_blob
        return self.blobs.read_url(REPORTS_CONTAINER, blob, now=now, ttl=FILE_URL_TTL)

    async def revoke_all(self, tenant_id: str) -> int:
        """Delete every report link of the tenant; returns how many there were."""
        try:
            keys = [kv.key async for kv in self.db.iter_prefix(links_prefix(tenant_id))]
            for key in keys:
                await self.db.delete(key)
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        return len(keys)
