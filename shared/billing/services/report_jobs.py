"""Reporting utils: build a tenant's usage report of a month into Blob `reports` and email a link.

- **Monthly** (timer): the previous UTC month, for every tenant of the region that is not
  cancelled and had calls in that month. The email goes out exactly once per
  tenant and month, even when two runs overlap or one dies midway: it is a notice
  (`shared.lifecycle.services.notices`, ConfigDB `t/{tid}/notice/report-{YYYY-MM}`) claimed before it is
  queued and confirmed after.
- **On demand** (`reports` queue, `shared.billing.models.ReportRequest`): one tenant and month,
  emailed to the owner (or the user named). At-least-once like every queue handler: the email's
  message id derives from the request's, so a redelivery resends with the same id.

Building is idempotent: the CSV and the PDF (`reports/{tid}/{YYYY-MM}.csv|.pdf`) are rendered from
the History DB and overwritten with the same content for the same calls. The email carries
report links (`shared.billing.services.report_links`): API URLs valid for `LINK_TTL` that an
owner or admin can revoke, each answering with a 5-minute SAS URL of the file (a SAS URL itself
could not be taken back). The recipient also gets a `report` activity
(id `report:{tid}:{YYYY-MM}:{user}`, added once).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from typing import Any

from shared.billing.models import ReportRequest
from shared.billing.ports import ReportBlobs
from shared.billing.services.report_links import LINK_TTL, REPORTS_CONTAINER, ReportLinks
from shared.billing.services.report_pdf import render_pdf
from shared.billing.services.usage_report import (
    UsageReport,
    build_report,
    month_range,
    previous_month,
    render_csv,
)
from shared.configdb import AsyncConfigDBClient, ConfigDBUnavailable
from shared.configdb_keys import user_key
from shared.directory.models.tenant import Tenant, TenantStatus
from shared.directory.models.user import User
from shared.directory.services.tenant_scan import iter_tenants, read_tenant
from shared.errors import Rejected, Unavailable
from shared.history.models.call import ActivityItem, CallRecord
from shared.history.ports import MAX_LIMIT, ReportingHistory
from shared.lifecycle.services.notices import NOTICE_LEASE, NoticeRecord, Notices, decide
from shared.notifications.models import EMAIL_QUEUE
from shared.ports import Clock, MessageBus
from shared.queue_work import Tally

MAX_CALLS_PER_REPORT = 1_000_000


def report_blob(tenant_id: str, month: str, ext: str) -> str:
    return f"{tenant_id}/{month}.{ext}"


def notice_name(month: str) -> str:
    return f"report-{month}"


@dataclass(frozen=True)
class BuiltReport:
    report: UsageReport
    csv_blob: str
    pdf_blob: str


def report_email(
    tenant: Tenant, user: User, built: BuiltReport, csv_url: str, pdf_url: str, message_id: str
) -> dict[str, Any]:
    t = built.report.total
    month = built.report.month
    days = LINK_TTL.days
    text = (
        f"Hello {user.name},\n\n"
        f"The usage report of {tenant.name} for {month} is ready.\n\n"
        f"Calls: {t.calls}, answered: {t.answered}, missed: {t.missed}, voicemails: {t.voicemails}, "
        f"minutes: {t.minutes}.\n\n"
        f"PDF: {pdf_url}\n"
        f"CSV: {csv_url}\n\n"
        f"These links work for {days} days.\n"
    )
    esc = html.escape
    body_html = (
        f"<p>Hello {esc(user.name)},</p>"
        f"<p>The usage report of {esc(tenant.name)} for {esc(month)} is ready.</p>"
        f"<p>Calls: {t.calls}, answered: {t.answered}, missed: {t.missed}, voicemails: {t.voicemails}, "
        f"minutes: {t.minutes}.</p>"
        f'<p><a href="{esc(pdf_url)}">Download the PDF</a> · '
        f'<a href="{esc(csv_url)}">Download the CSV</a></p>'
        f"<p>These links work for {days} days.</p>"
    )
    return {
        "message_id": message_id,
        "to": user.email,
        "subject": f"Your usage report for {month}",
        "text": text,
        "html": body_html,
        "kind": "report",
        "tenant_id": tenant.id,
        "user_id": user.id,
    }


class ReportJobs:
    def __init__(
        self,
        *,
        db: AsyncConfigDBClient,
        history: ReportingHistory,
        blobs: ReportBlobs,
        bus: MessageBus,
        clock: Clock,
        region: str | None = None,
        lease: dt.timedelta = NOTICE_LEASE,
        api_base_url: str = "",
    ) -> None:
        """`api_base_url` is this region's API (`Settings.api_base_url`), which serves the links."""
        self.db, self.history, self.blobs, self.bus, self.clock = db, history, blobs, bus, clock
        self.region, self.lease = region, lease
        self.links = ReportLinks(db, blobs)
        self.api_base_url = api_base_url.rstrip("/")
        self.notices = Notices(db, lease)

    # ------------------------------------------------------------ building

    async def _calls(self, tenant_id: str, month: str) -> list[CallRecord]:
        since, until = month_range(month)
        out: list[CallRecord] = []
        cursor: str | None = None
        while len(out) < MAX_CALLS_PER_REPORT:
            page = await self.history.list_calls(
                tenant_id, since=since, until=until, limit=MAX_LIMIT, cursor=cursor
            )
            out.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        return out

    async def collect(self, tenant: Tenant, month: str) -> UsageReport:
        calls = await self._calls(tenant.id, month)
        return build_report(tenant.id, tenant.name, month, calls, self.clock.now())

    async def build(self, tenant: Tenant, month: str, report: UsageReport | None = None) -> BuiltReport:
        """Render the month's report of `tenant` and write both files (overwriting)."""
        report = report or await self.collect(tenant, month)
        csv_blob, pdf_blob = report_blob(tenant.id, month, "csv"), report_blob(tenant.id, month, "pdf")
        await self.blobs.upload(REPORTS_CONTAINER, csv_blob, render_csv(report), "text/csv; charset=utf-8")
        await self.blobs.upload(REPORTS_CONTAINER, pdf_blob, render_pdf(report), "application/pdf")
        return BuiltReport(report, csv_blob, pdf_blob)

    async def _send(self, tenant: Tenant, user: User, built: BuiltReport, message_id: str) -> None:
        now = self.clock.now()
        month = built.report.month
        token = await self.links.issue(tenant.id, user.id, month, built.csv_blob, built.pdf_blob, now)
        base = f"{self.api_base_url}/v1/report-links/{tenant.id}/{token}"
        csv_url, pdf_url = f"{base}/csv", f"{base}/pdf"
        await self.bus.send(
            EMAIL_QUEUE, report_email(tenant, user, built, csv_url, pdf_url, message_id), message_id
        )
        await self.history.add_activity(
            ActivityItem(
                id=f"report:{tenant.id}:{month}:{user.id}",
                tenant_id=tenant.id,
                user_id=user.id,
                kind="report",
                title=f"Usage report for {month} is ready",
                created_at=now,
                data={
                    "month": month,
                    "csv_blob": f"{REPORTS_CONTAINER}/{built.csv_blob}",
                    "pdf_blob": f"{REPORTS_CONTAINER}/{built.pdf_blob}",
                    "calls": built.report.total.calls,
                },
            )
        )

    async def _user(self, tenant_id: str, user_id: str | None) -> User | None:
        if user_id is None:
            return None
        try:
            kv = await self.db.get_or_none(user_key(tenant_id, user_id))
        except ConfigDBUnavailable as exc:
            raise Unavailable(str(exc)) from exc
        except ValueError:
            return None
        return None if kv is None else User.model_validate(kv.value)

    # ------------------------------------------------------------ on demand

    async def on_request(self, req: ReportRequest, message_id: str) -> Tally:
        tally = Tally()
        start, _ = month_range(req.month)
        if start > self.clock.now():
            raise Rejected(f"month {req.month} has not started yet")
        entry = await read_tenant(self.db, req.tenant_id)
        if entry.tenant is None:
            return tally.skip(f"tenant_{entry.problem or 'missing'}")
        tenant = entry.tenant
        user = await self._user(tenant.id, req.user_id or tenant.owner_user_id)
        if user is None:
            raise Rejected("no such user" if req.user_id else "the tenant has no owner to email")
        built = await self.build(tenant, req.month)
        await self._send(tenant, user, built, f"report:{tenant.id}:{req.month}:{message_id}")
        tally.ok("emailed")
        tally.notes["calls"] += built.report.total.calls
        return tally

    # ------------------------------------------------------------ monthly

    async def monthly(self, month: str | None = None) -> tuple[Tally, str]:
        """Reports of `month` (default: the previous month) for every tenant of the region."""
        month = month or previous_month(self.clock.now())
        tally = Tally()
        async for entry in iter_tenants(self.db, self.region):
            try:
                await self._monthly_one(entry.tenant, month, tally)
            except Unavailable as exc:
                tally.fail(f"unavailable:{type(exc.__cause__ or exc).__name__}")
        return tally, month

    async def _monthly_one(self, tenant: Tenant | None, month: str, tally: Tally) -> None:
        if tenant is None:
            tally.skip("tenant_unreadable")
            return
        start, _ = month_range(month)
        if tenant.status is TenantStatus.CANCELLED:
            tally.skip("cancelled")
            return
        name = notice_name(month)
        now = self.clock.now()
        record, rev = await self.notices.read(tenant.id, name)
        decision = decide(record, subject_at=start, now=now, lease=self.lease)
        if decision != "claim":
            tally.skip("already_sent" if decision == "done" else "notice_in_flight")
            return
        report = await self.collect(tenant, month)
        if report.total.calls == 0:
            tally.skip("no_calls")
            return
        claim = NoticeRecord(
            state="sending", message_id=f"report:{tenant.id}:{month}", subject_at=start, claimed_at=now
        )
        claimed = await self.notices.claim(tenant.id, name, claim, notice_revision=rev, guard=[])
        if claimed is None:
            tally.skip("contended")
            return
        owner = await self._user(tenant.id, tenant.owner_user_id)
        if owner is None:
            await self.notices.finish(claimed, "skipped", self.clock.now(), "no_owner")
            tally.skip("no_owner")
            return
        built = await self.build(tenant, month, report)
        try:
            await self._send(tenant, owner, built, claim.message_id)
        except Unavailable:
            tally.fail("email_queue_unavailable")  # the claim's lease expires; a later run resends
            return
        await self.notices.finish(claimed, "sent", self.clock.now(), None)
        tally.ok("emailed")
