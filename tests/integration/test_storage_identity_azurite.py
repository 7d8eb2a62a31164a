"""Blob media under an identity, against a real Azurite that authenticates bearer tokens.

Azurite runs over https (`--cert`, `--key`: a certificate made here) with `--oauth basic`: it
accepts a token from any Entra-shaped issuer for the storage audience (it does not check the
signature), hands out user delegation keys and checks user-delegation SAS. `BlobMedia` is built
from a `StorageEndpoint` (URL and token credential, no account key) exactly as under a managed
identity in Azure: it writes a blob with the token, signs a link with the delegation key, and the
link serves that blob (and no other) to a client that has neither token nor key. The queue bus
sends with the token the same way, and a token for another audience is refused (`Unavailable`).
Last, the functions' `Adapters` from identity-based settings, with the process's
`DefaultAzureCredential` finding the managed identity through IDENTITY_ENDPOINT (a stand-in of the
platform's identity endpoint, which only Azure runs).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.storage.queue import QueueClient

from functions.wiring import Adapters
from infra.local.ports import free_port
from shared.adapters import azure_credentials, blob_media
from shared.adapters.azure_credentials import StorageEndpoint
from shared.adapters.blob_media import BlobMedia
from shared.adapters.storage_queue_bus import StorageQueueBus
from shared.errors import Unavailable
from shared.settings import Settings
from tests.integration.azurite import ACCOUNT, ROOT, stop_process, wait_for_port
from tests.integration.tls import self_signed

AZURITE = ROOT / "node_modules" / ".bin" / "azurite"
OID = "6f1c2e2a-0000-4000-8000-00000000000a"
TID = "72f988bf-0000-4000-8000-00000000000b"
TTL = dt.timedelta(minutes=5)


class EntraShapedToken:
    """A token credential whose tokens look like Entra's for the storage audience (unsigned)."""

    def __init__(self, audience: str = "https://storage.azure.com") -> None:
        self.audience = audience
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        now = int(time.time())
        claims = {
            "aud": self.audience,
            "iss": f"https://sts.windows.net/{TID}/",
            "iat": now - 60,
            "nbf": now - 60,
            "exp": now + 3600,
            "oid": OID,
            "tid": TID,
        }

        def part(doc: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

        return AccessToken(f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.", now + 3600)


@pytest.fixture(scope="module")
def oauth_azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """(blob and queue service URLs over https, the certificate to trust)."""
    if not AZURITE.exists():
        pytest.skip("azurite is not installed (make test installs it)")
    location = tmp_path_factory.mktemp("azurite-oauth")
    cert, key = self_signed(location)
    ports = [free_port(), free_port(), free_port()]
    cmd = [
        str(AZURITE),
        "--silent",
        "--disableTelemetry",
        "--skipApiVersionCheck",
        "--location",
        str(location),
    ]
    cmd += ["--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1"]
    cmd += ["--blobPort", str(ports[0]), "--queuePort", str(ports[1]), "--tablePort", str(ports[2])]
    cmd += ["--oauth", "basic", "--cert", str(cert), "--key", str(key)]
    log = (location / "azurite.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for port in ports:
            wait_for_port(port, proc=proc)
        yield f"https://127.0.0.1:{ports[0]}/{ACCOUNT}", f"https://127.0.0.1:{ports[1]}/{ACCOUNT}", cert
    finally:
        stop_process(proc)
        log.close()


def test_a_blob_written_under_the_identity_is_served_by_its_user_delegation_link(
    oauth_azurite: tuple[str, str, Path],
) -> None:
    url, _, cert = oauth_azurite
    trust = ssl.create_default_context(cafile=str(cert))
    token = EntraShapedToken()
    media = BlobMedia(StorageEndpoint(account_url=url, credential=token), connection_verify=str(cert))  # type: ignore[arg-type]
    assert not hasattr(media.service.credential, "account_key")
    try:
        asyncio.run(media.upload("voicemail", "t1/vm1.wav", b"RIFF-voicemail", "audio/wav"))
        assert token.scopes and token.scopes[0] == ("https://storage.azure.com/.default",)

        link = media.read_url("voicemail", "t1/vm1.wav", now=dt.datetime.now(dt.UTC), ttl=TTL)
        query = {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}
        assert query["skoid"] == OID and query["sktid"] == TID and query["sks"] == "b"
        assert query["spr"] == "https" and query["sp"] == "r"

        served = httpx.get(link, verify=trust)  # no token, no key: the link alone
        assert served.status_code == 200 and served.content == b"RIFF-voicemail"
        ranged = httpx.get(link, verify=trust, headers={"Range": "bytes=0-3"})
        assert ranged.status_code == 206 and ranged.content == b"RIFF"

        asyncio.run(media.upload("voicemail", "t1/vm2.wav", b"other", "audio/wav"))
        other = link.replace("t1/vm1.wav", "t1/vm2.wav")
        assert httpx.get(other, verify=trust).status_code == 403  # signed for one blob only
        sig = query["sig"]  # altered in its first character, encoded as the SDK encodes it
        forged_query = {**query, "sig": ("B" if sig[0] == "A" else "A") + sig[1:]}
        forged = urlunsplit(urlsplit(link)._replace(query=urlencode(forged_query, quote_via=quote)))
        assert parse_qs(urlsplit(forged).query)["sig"][0] != sig
        assert httpx.get(forged, verify=trust).status_code == 403
    finally:
        media.close()


def test_the_queue_bus_sends_under_the_identity(oauth_azurite: tuple[str, str, Path]) -> None:
    _, url, cert = oauth_azurite
    endpoint = StorageEndpoint(account_url=url, credential=EntraShapedToken())  # type: ignore[arg-type]
    bus = StorageQueueBus(endpoint, connection_verify=str(cert))
    asyncio.run(bus.send("email", {"to": "a@example.com"}, "m-1"))
    asyncio.run(bus.aclose())
    with QueueClient(url, "email", credential=EntraShapedToken(), connection_verify=str(cert)) as queue:  # type: ignore[arg-type]
        (message,) = list(queue.receive_messages())
    doc = json.loads(base64.b64decode(message.content))
    assert doc["to"] == "a@example.com" and doc["message_id"] == "m-1"
    # a token for another audience (here Key Vault's) is refused: Unavailable, as any refusal
    vault_token = EntraShapedToken("https://vault.azure.net")
    refused = StorageQueueBus(
        StorageEndpoint(account_url=url, credential=vault_token), connection_verify=str(cert)
    )  # type: ignore[arg-type]
    with pytest.raises(Unavailable):
        asyncio.run(refused.send("email", {}, "m-2"))
    asyncio.run(refused.aclose())


class IdentityEndpoint:
    """Stands for the App Service / Functions identity endpoint (IDENTITY_ENDPOINT with
    IDENTITY_HEADER), which `DefaultAzureCredential` asks for the managed identity's tokens."""

    HEADER = "identity-header-secret"

    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                endpoint.requests.append((query.get("resource", ""), self.headers.get("X-IDENTITY-HEADER")))
                if self.headers.get("X-IDENTITY-HEADER") != IdentityEndpoint.HEADER:
                    self.send_response(401)
                    self.end_headers()
                    return
                token = EntraShapedToken(query["resource"]).get_token()
                body = json.dumps(
                    {
                        "access_token": token.token,
                        "expires_on": str(token.expires_on),
                        "resource": query["resource"],
                        "token_type": "Bearer",
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/msi/token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class IsolatedSettings(Settings):
    local_settings_file = None


def test_the_functions_wiring_under_a_managed_identity(
    oauth_azurite: tuple[str, str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings with the identity-based AzureWebJobsStorage, the functions' `Adapters`, and
    `DefaultAzureCredential` finding the managed identity by IDENTITY_ENDPOINT: media and bus work,
    and a link is a user-delegation SAS, with no key anywhere."""
    blob_url, queue_url, cert = oauth_azurite
    identity = IdentityEndpoint()
    for name in ("AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_TENANT_ID", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", identity.url)
    monkeypatch.setenv("IDENTITY_HEADER", IdentityEndpoint.HEADER)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # trust Azurite's certificate
    monkeypatch.setattr(blob_media, "_delegation_signers", {})
    azure_credentials.close_process_credential()
    settings = IsolatedSettings(
        pbx_environment="local",
        storage_blob_service_uri=blob_url,
        storage_queue_service_uri=queue_url,
    )

    async def use() -> str:
        adapters = Adapters(settings)
        try:
            await adapters.media.upload("prompts", "t1/p1/pcm8k.wav", b"RIFF-prompt", "audio/wav")
            await adapters.bus.send("email", {"to": "b@example.com"}, "m-identity")
            return adapters.media.read_url("prompts", "t1/p1/pcm8k.wav", now=dt.datetime.now(dt.UTC), ttl=TTL)
        finally:
            await adapters.aclose()

    try:
        link = asyncio.run(use())
    finally:
        azure_credentials.close_process_credential()
        identity.close()
    assert identity.requests and all(h == IdentityEndpoint.HEADER for _, h in identity.requests)
    assert {resource for resource, _ in identity.requests} == {"https://storage.azure.com"}
    assert "skoid" in parse_qs(urlsplit(link).query)
    served = httpx.get(link, verify=ssl.create_default_context(cafile=str(cert)))
    assert served.status_code == 200 and served.content == b"RIFF-prompt"
    with QueueClient(queue_url, "email", credential=EntraShapedToken(), connection_verify=str(cert)) as queue:  # type: ignore[arg-type]
        docs = [json.loads(base64.b64decode(m.content)) for m in queue.receive_messages(max_messages=32)]
    assert any(d.get("message_id") == "m-identity" for d in docs)
