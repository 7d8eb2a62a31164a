"""Report links over HTTP against a real ConfigDB shard and a real Azurite: a link follows to a
5-minute SAS URL of the file, expires after 7 days (410), is revoked by an owner for the whole
tenant (404 afterwards; members cannot revoke), and never opens another tenant's file."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import pytest

from functions.http_api.app import create_app
from infra.local.configdb_cluster import LocalCluster
from shared.adapters.blob_media import BlobMedia
from shared.billing.services.report_links import LINK_TTL, ReportLinks
from shared.configdb import AsyncConfigDBClient
from tests.integration.azurite import AZURITE_BIN, Azurite, azurite  # noqa: F401

from .test_api_accounts import API, PROBLEM, RecordingBus, bearer, settings_for, signup_and_login

pytestmark = pytest.mark.skipif(not AZURITE_BIN.exists(), reason="azurite is not installed")

PDF = b"%PDF-1.4 the report"


def test_report_links_expire_and_are_revocable(cluster: LocalCluster, azurite: Azurite) -> None:  # noqa: F811
    cluster.wait_healthy()
    settings = settings_for(cluster).model_copy(update={"storage_connection": azurite.connection_string})
    bus = RecordingBus()
    app = create_app(settings, bus=bus)
    media = BlobMedia(azurite.connection_string)

    async def main() -> None:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.10", 50000))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://api.test") as client,
            AsyncConfigDBClient(cluster.endpoints, cluster.token) as db,
        ):
            owner = await signup_and_login(client, bus, "owner@links.test")
            other = await signup_and_login(client, bus, "owner@links-other.test", company="Other")
            tid, auth = owner["tenant"]["id"], bearer(owner["access_token"])
            await media.upload("reports", f"{tid}/2026-11.pdf", PDF, "application/pdf")
            await media.upload("reports", f"{tid}/2026-11.csv", b"section,key\n", "text/csv")

            links = ReportLinks(db, media)
            now = dt.datetime.now(dt.UTC)
            token = await links.issue(
                tid, owner["user"]["id"], "2026-11", f"{tid}/2026-11.csv", f"{tid}/2026-11.pdf", now
            )
            old = await links.issue(
                tid,
                owner["user"]["id"],
                "2026-10",
                f"{tid}/2026-11.csv",
                f"{tid}/2026-11.pdf",
                now - LINK_TTL,
            )

            r = await client.get(f"{API}/report-links/{tid}/{token}/pdf")  # no bearer token: the link is it
            assert r.status_code == 302, r.text
            sas = r.headers["location"]
            assert "sig=" in sas and "/reports/" in sas
            se = dt.datetime.fromisoformat(httpx.URL(sas).params["se"].replace("Z", "+00:00"))
            assert se <= now + dt.timedelta(minutes=6)  # the file URL itself lives minutes, not days
            async with httpx.AsyncClient() as blob:
                assert (await blob.get(sas)).content == PDF

            expired = await client.get(f"{API}/report-links/{tid}/{old}/pdf")
            assert expired.status_code == 410 and expired.headers["content-type"] == PROBLEM, expired.text
            assert expired.json()["type"].endswith("/report-link-expired")

            foreign = await client.get(f"{API}/report-links/{other['tenant']['id']}/{token}/pdf")
            assert foreign.status_code == 404, foreign.text
            assert (await client.get(f"{API}/report-links/{tid}/not-a-token/pdf")).status_code == 404
            assert (await client.get(f"{API}/report-links/{tid}/{token}/exe")).status_code == 422

            r = await client.post(
                f"{API}/users",
                headers=auth,
                json={"name": "Mo", "email": "mo@links.test", "password": "correct horse 2"},
            )
            assert r.status_code == 201, r.text
            login = await client.post(
                f"{API}/auth/login", json={"email": "mo@links.test", "password": "correct horse 2"}
            )
            member = bearer(login.json()["access_token"])
            assert (await client.delete(f"{API}/tenant/report-links", headers=member)).status_code == 403
            assert (await client.get(f"{API}/report-links/{tid}/{token}/csv")).status_code == 302

            r = await client.delete(f"{API}/tenant/report-links", headers=auth)
            assert r.status_code == 200 and r.json() == {"revoked": 2}, r.text
            gone = await client.get(f"{API}/report-links/{tid}/{token}/pdf")
            assert gone.status_code == 404 and "revoked" in gone.json()["detail"], gone.text
        await app.state.ctx.aclose()

    asyncio.run(main())
    media.close()
