"""The whole local platform on free ports, as real processes: Azurite, a 3-node ConfigDB
shard, the SMTP catcher and the functions host serving function_app:app.

Tests and benchmarks use this; `make run` (run.py) starts the same parts on fixed ports.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from shared.settings import LOCAL_ENVIRONMENT, Settings

from .azurite import Azurite
from .configdb_cluster import LocalCluster
from .demo_inventory import import_demo_inventory
from .managed import REPO, ManagedProcess, http_ok, ports_open
from .ports import free_port


@dataclass
class LocalStack:
    base: Path
    retry_delay: int = 1
    azurite: Azurite = field(init=False)
    cluster: LocalCluster = field(init=False)
    smtp: ManagedProcess = field(init=False)
    host: ManagedProcess = field(init=False)
    settings: Settings = field(init=False)
    api_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    # Extra `Settings` fields for every process (e.g. edge_control_url for click-to-call tests).
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    # Opt-in: also serve web/ (infra.local.static_site) on `web_port`, as the portal's origin:
    # PUBLIC_BASE_URL (links in emails) and the API's CORS origin become http://127.0.0.1:<web_port>.
    web: bool = False
    web_port: int = field(default_factory=free_port)
    site: ManagedProcess | None = field(init=False, default=None)
    # The first `inventory` numbers of the demo range (+15557770000...) are imported with
    # `python -m ops numbers import` once the shard is up, so tenants can claim them; 0: none.
    inventory: int = 1000

    def __post_init__(self) -> None:
        self.azurite = Azurite(self.base / "azurite")
        self.cluster = LocalCluster(base_dir=self.base / "configdb")
        self.mail_dir = self.base / "mail"
        self.smtp = ManagedProcess(
            "smtp",
            [
                sys.executable,
                "-m",
                "infra.local.smtp_catcher",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.smtp_port),
                "--dir",
                str(self.mail_dir),
            ],
            self.base / "smtp.log",
            ports_open("127.0.0.1", self.smtp_port),
        )
        self.settings = Settings(
            configdb_endpoints=self.cluster.endpoints,
            pbx_environment=LOCAL_ENVIRONMENT,
            configdb_token=self.cluster.token,
            configdb_app_token=self.cluster.app_token,
            configdb_edge_token=self.cluster.edge_token,
            storage_connection=self.azurite.connection_string,
            smtp_host="127.0.0.1",
            smtp_port=self.smtp_port,
            data_dir=self.base / "data",
            **(
                {
                    "public_base_url": "http://127.0.0.1:8080",
                    # links this stack's functions email (report links) point at its own API
                    "region_base_urls": {"local": f"http://127.0.0.1:{self.api_port}/api"},
                }
                | self._web_settings()
                | self.settings_overrides
            ),
        )
        self.host = ManagedProcess(
            "functions",
            [
                sys.executable,
                "-m",
                "functions.devhost",
                "--app",
                "function_app:app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.api_port),
                "--data-dir",
                str(self.base / "devhost"),
                "--retry-delay",
                str(self.retry_delay),
            ],
            self.base / "functions.log",
            http_ok(f"http://127.0.0.1:{self.api_port}/api/v1/health"),
            env=self.settings.as_env(),
        )
        if self.web:
            self.site = ManagedProcess(
                "static_site",
                [
                    sys.executable,
                    "-m",
                    "infra.local.static_site",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.web_port),
                    "--root",
                    str(REPO / "web"),
                    "--api-base",
                    self.api,
                    "--media-origin",
                    f"http://127.0.0.1:{self.azurite.blob_port}",
                ],
                self.base / "static_site.log",
                http_ok(f"{self.web_url}/config.json"),
            )
        self._started: list[Azurite | LocalCluster | ManagedProcess] = []

    def _web_settings(self) -> dict[str, Any]:
        if not self.web:
            return {}
        return {"public_base_url": self.web_url, "web_origins": [self.web_url]}

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}/api/v1"

    @property
    def web_url(self) -> str:
        """The portal's origin (only served when `web=True`)."""
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> None:
        # Each part is on the list before it starts: one that fails to come up is stopped too.
        try:
            self._started.append(self.azurite)
            self.azurite.start()
            self._started.append(self.cluster)
            self.cluster.start()
            if self.inventory:
                import_demo_inventory(self.settings, self.base, self.inventory)
            self._started.append(self.smtp)
            self.smtp.start()
            self.smtp.wait_ready(15)
            self._started.append(self.host)
            self.host.start()
            self.host.wait_ready(60)
            if self.site is not None:
                self._started.append(self.site)
                self.site.start()
                self.site.wait_ready(30)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        while self._started:
            self._started.pop().stop()

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def wait_for_mail(mail_dir: Path, to: str, timeout: float = 30.0) -> Message:
    """The first message to `to` that the SMTP catcher wrote."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in sorted(mail_dir.glob("*.eml")) if mail_dir.exists() else []:
            msg = message_from_bytes(path.read_bytes())
            if msg["To"] == to:
                return msg
        time.sleep(0.2)
    raise TimeoutError(f"no mail to {to} arrived in {timeout}s")


def mail_text(msg: Message) -> str:
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode()
    raise ValueError("the message has no text part")


def signup_verified(
    stack: LocalStack, email: str, password: str = "correct horse battery", company: str = "Acme Plumbing"
) -> tuple[str, str]:
    """Sign up over HTTP, follow the emailed link, log in: (tenant id, access token)."""
    with httpx.Client(base_url=stack.api, timeout=10) as api:
        r = api.post(
            "/signup",
            json={
                "company": company,
                "name": "Owner",
                "email": email,
                "password": password,
                "region": stack.settings.region,
            },
        )
        r.raise_for_status()
        tenant_id = r.json()["tenant"]["id"]
        match = re.search(r"token=([A-Za-z0-9_\-]+)", mail_text(wait_for_mail(stack.mail_dir, email)))
        if match is None:
            raise ValueError("the verification email holds no token")
        api.post("/signup/verify", json={"token": match.group(1)}).raise_for_status()
        login = api.post("/auth/login", json={"email": email, "password": password})
        login.raise_for_status()
        return tenant_id, login.json()["access_token"]
