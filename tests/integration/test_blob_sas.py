"""Blob SAS links: https-only (`spr=https`) for an https endpoint (every Azure account); an http
endpoint (Azurite locally) signs `https,http`, and its link still serves the blob."""

from __future__ import annotations

import asyncio
import datetime as dt
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shared.adapters.blob_media import BlobMedia
from tests.integration.azurite import ACCOUNT_KEY, AZURITE_BIN, Azurite, azurite  # noqa: F401

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=5)


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@pytest.mark.parametrize(
    "connection_string",
    [
        f"DefaultEndpointsProtocol=https;AccountName=pbxprod;AccountKey={ACCOUNT_KEY};"
        "EndpointSuffix=core.windows.net",
        f"DefaultEndpointsProtocol=https;AccountName=pbxprod;AccountKey={ACCOUNT_KEY};"
        "BlobEndpoint=https://media.pbx.example/pbxprod;",
    ],
)
def test_a_production_shaped_account_signs_https_only(connection_string: str) -> None:
    media = BlobMedia(connection_string)
    url = media.read_url("prompts", "t1/p1/pcm8k.wav", now=NOW, ttl=TTL)
    assert url.startswith("https://")
    q = query(url)
    assert q["spr"] == "https"
    assert q["sp"] == "r" and q["se"] == "2026-12-03T12:05:00Z"
    media.close()


@pytest.mark.skipif(not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)")
def test_azurite_over_http_signs_https_or_http_and_the_link_serves(azurite: Azurite) -> None:  # noqa: F811
    media = BlobMedia(azurite.connection_string)
    asyncio.run(media.upload("prompts", "t1/p1/pcm8k.wav", b"RIFF-bytes", "audio/wav"))
    url = media.read_url("prompts", "t1/p1/pcm8k.wav", now=dt.datetime.now(dt.UTC), ttl=TTL)
    assert url.startswith("http://127.0.0.1:") and query(url)["spr"] == "https,http"
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == b"RIFF-bytes"
    media.close()
