"""Report links: the usage-report email's links, and their revocation.

- `GET /report-links/{tenant_id}/{token}/{pdf|csv}` needs no bearer token (the unguessable link
  is the credential, as it is opened from an email): 302 to a 5-minute read-only Blob SAS URL
  of the file; 404 for an unknown or revoked link, 410 once it has expired (7 days).
- `DELETE /tenant/report-links` (owners and admins): revoke every report link of the tenant.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel

from shared.billing.services.report_links import ReportLinks
from shared.directory.services.menus import require_manager

from .. import media_link
from ..deps import Ctx, Who

router = APIRouter(tags=["reports"])


def report_links(ctx: Ctx) -> ReportLinks:
    return ReportLinks(ctx.db, ctx.adapters.media)


Links = Annotated[ReportLinks, Depends(report_links)]


class Revoked(BaseModel):
    revoked: int


@router.get(
    "/report-links/{tenant_id}/{token}/{file}",
    status_code=302,
    responses={
        **media_link.responses("a read-only Blob SAS URL of the report file, valid 5 minutes"),
        404: {"description": "no such report link, or it was revoked"},
        410: {"description": "the link expired (7 days after the email)"},
    },
)
async def follow_report_link(
    tenant_id: str, token: str, file: Literal["pdf", "csv"], request: Request, ctx: Ctx, links: Links
) -> Response:
    url = await links.file_url(tenant_id, token, file, ctx.clock.now())
    return media_link.media_response(request, url)


@router.delete(
    "/tenant/report-links",
    response_model=Revoked,
    responses={403: {"description": "members cannot revoke report links"}},
)
async def revoke_report_links(who: Who, links: Links) -> Revoked:
    """Revoke every report link ever emailed for this tenant (a new report brings new links)."""
    require_manager(who, "report links")
    return Revoked(revoked=await links.revoke_all(who.tenant_id))
