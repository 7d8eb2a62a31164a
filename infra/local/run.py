"""`make run`: start the local platform in the foreground; Ctrl-C stops everything.

Parts, on the design's fixed ports, with state under .data/:
- Azurite (blob 10000, queue 10001, table 10002), data in .data/azurite
- the ConfigDB shard: 3 nodes, HTTP 7101-7103, stream 7201-7203, raft 7301-7303, .data/configdb
- the SMTP catcher on 2525, writing .eml files to .data/mail
- the local functions host on 7071 (API under /api), when functions/devhost exists; once it is
  healthy, `rates_sync` runs once, so the sample rate deck prices click-to-calls (they are refused
  with 503 `rates-unavailable` until a deck is published)
- the provider stand-in on 5070 (control 5072): answers the legs the edge forwards, by rules
- the SIP edge on 5060 UDP+TCP (control API 7401)
- the web portal (web/) on 8080, served by infra.local.static_site with /config.json pointing at the API

Each part is started, then waited on until it is healthy; the children get their settings
through environment variables (shared.settings.Settings.as_env). If any part dies, the
supervisor says which and stops the others. Stopping sends SIGTERM, then SIGKILL after 10 s.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

import httpx

from shared.settings import LOCAL_ENVIRONMENT, Settings, azurite_connection_string, get_settings

from .azurite import Azurite
from .commands import edge_command
from .configdb_cluster import LocalCluster
from .demo_inventory import import_demo_inventory
from .managed import REPO, ManagedProcess, http_ok, port_open, ports_open

DATA = REPO / ".data"
HOST = "127.0.0.1"
CONFIGDB_PORTS = [(7101, 7201, 7301), (7102, 7202, 7302), (7103, 7203, 7303)]
SMTP_PORT = 2525
API_PORT = 7071
MAIL_DIR = DATA / "mail"
DEVHOST_MAIN = REPO / "functions" / "devhost" / "__main__.py"
SIP_PORT = 5060
EDGE_CONTROL_PORT = 7401
PROVIDER_SIP_PORT = 5070
PROVIDER_CONTROL_PORT = 5072
PROVIDER_RULES = DATA / "provider_rules.json"
WEB_PORT = 8080
WEB_ROOT = REPO / "web"
# What the stand-in for the phone network does with a forwarded leg, by number ("*": the rest).
DEFAULT_PROVIDER_RULES = {
    "*": {"action": "answer", "ring_s": 3.0, "echo": True},
    "+15550000486": {"action": "busy", "ring_s": 1.0},
    "+15550000603": {"action": "decline", "ring_s": 2.0},
    "+15550000408": {"action": "no_answer"},
}


class Shutdown(Exception):
    """Raised by the SIGINT/SIGTERM handler to leave the start-up or watch loop."""


@dataclass
class Part:
    """What the supervisor needs from each part: start, wait until healthy, report death, stop."""

    name: str
    start: Callable[[], None]
    wait_ready: Callable[[float], None]
    died: Callable[[], str | None]  # None while healthy, else what died and where its log is
    stop: Callable[[], None]
    ready_timeout: float = 30.0


def process_part(
    p: ManagedProcess, timeout: float = 30.0, before_start: Callable[[], object] | None = None
) -> Part:
    def start() -> None:
        if before_start is not None:
            before_start()
        p.start()

    def died() -> str | None:
        code = p.exit_code()
        return None if code is None else f"{p.name} exited with code {code}; log {p.log_path}"

    return Part(p.name, start, p.wait_ready, died, p.stop, timeout)


def configdb_part(cluster: LocalCluster) -> Part:
    """The shard as one part; its nodes are started by LocalCluster, as in the tests and benchmarks."""

    def start() -> None:
        for node in cluster.nodes:
            cluster.start_node(node)

    def died() -> str | None:
        for n in cluster.nodes:
            if n.proc is not None and not n.alive():
                return f"configdb {n.node_id} exited with code {n.proc.poll()}; log {n.log_path}"
        return None

    def wait_ready(timeout: float) -> None:
        cluster.wait_healthy(timeout)  # every node answers and one leads

    return Part("configdb", start, wait_ready, died, cluster.stop)


def inventory_part(settings: Settings) -> Part:
    """The demo number inventory (+15557770000 to +15557779999 in the settings' region), imported
    with `python -m ops numbers import` once the shard is up; idempotent, so every start runs it."""

    def start() -> None:
        summary = import_demo_inventory(settings, DATA)
        print(
            f"  demo inventory: {summary['added']} numbers added, {summary['unchanged']} already there",
            flush=True,
        )

    return Part("inventory", start, lambda _timeout: None, lambda: None, lambda: None)


def rates_part() -> Part:
    """Publish the rate deck (RATES_SOURCE) once the functions host is up: `rates_sync` through
    `POST /admin/functions/rates_sync`, as its daily timer would. The API reloads it within a minute."""

    def publish(_timeout: float) -> None:
        url = f"http://{HOST}:{API_PORT}/admin/functions/rates_sync"
        try:
            r = httpx.post(url, json={"input": ""}, timeout=10)
            print(f"  rates_sync requested ({r.status_code})", flush=True)
        except httpx.HTTPError as exc:  # the platform still runs; click-to-call waits for a deck
            print(f"  rates_sync could not be requested: {exc}", file=sys.stderr, flush=True)

    return Part("rates", lambda: None, publish, lambda: None, lambda: None)


def _raise_shutdown(signum: int, _frame: FrameType | None) -> None:
    raise Shutdown(signal.Signals(signum).name)


def build(settings: Settings) -> tuple[list[Part], dict[int, str], Azurite, LocalCluster]:
    """Every part of the platform, in start order, and the fixed ports they listen on."""
    azurite = Azurite.fixed(DATA / "azurite")
    cluster = LocalCluster(
        base_dir=DATA / "configdb",
        token=settings.configdb_token.get_secret_value(),
        app_token=settings.configdb_app_token.get_secret_value(),
        edge_token=settings.configdb_edge_token.get_secret_value(),
        ports=CONFIGDB_PORTS,
    )
    smtp_cmd = ["-m", "infra.local.smtp_catcher", "--host", HOST, "--port", str(SMTP_PORT)]
    smtp = ManagedProcess(
        "smtp",
        [sys.executable, *smtp_cmd, "--dir", str(MAIL_DIR)],
        DATA / "smtp.log",
        ports_open(HOST, SMTP_PORT),
    )
    parts = [
        process_part(
            azurite.process, before_start=lambda: azurite.location.mkdir(parents=True, exist_ok=True)
        ),
        configdb_part(cluster),
        process_part(smtp, 15),
    ]
    parts.append(inventory_part(settings))
    ports = {10000: "azurite blob", 10001: "azurite queue", 10002: "azurite table", SMTP_PORT: "smtp"}
    for h, s, r in CONFIGDB_PORTS:
        ports |= {h: "configdb http", s: "configdb stream", r: "configdb raft"}
    if DEVHOST_MAIN.exists():
        host_args = ["--app", "function_app:app", "--host", HOST, "--port", str(API_PORT)]
        functions = ManagedProcess(
            "functions",  # storage comes from AzureWebJobsStorage in its environment, never argv
            [sys.executable, "-m", "functions.devhost", *host_args, "--data-dir", str(DATA / "devhost")],
            DATA / "functions.log",
            http_ok(f"http://{HOST}:{API_PORT}/api/v1/health"),
            env=settings.as_env(),
        )
        parts.append(process_part(functions, 90))
        parts.append(rates_part())
        ports[API_PORT] = "functions host"
    parts += sip_parts(settings)
    if WEB_ROOT.is_dir():
        parts.append(process_part(web_site(azurite), 15))
        ports[WEB_PORT] = "web portal"
    ports |= {
        SIP_PORT: "sip edge",
        EDGE_CONTROL_PORT: "sip edge control",
        PROVIDER_SIP_PORT: "provider stand-in",
        PROVIDER_CONTROL_PORT: "provider stand-in control",
    }
    return parts, ports, azurite, cluster


def web_site(azurite: Azurite) -> ManagedProcess:
    """The static site of web/ on 8080; its config.json sends the browser to the API on 7071."""
    return ManagedProcess(
        "web",
        [
            sys.executable,
            "-m",
            "infra.local.static_site",
            *("--host", HOST, "--port", str(WEB_PORT), "--root", str(WEB_ROOT)),
            *("--api-base", f"http://{HOST}:{API_PORT}/api/v1"),
            *("--media-origin", f"http://{HOST}:{azurite.blob_port}"),
        ],
        DATA / "web.log",
        http_ok(f"http://{HOST}:{WEB_PORT}/config.json"),
    )


def sip_parts(settings: Settings) -> list[Part]:
    """The provider stand-in (the phone network's side of the trunk) and the SIP edge."""

    def write_rules() -> None:
        if not PROVIDER_RULES.exists():
            PROVIDER_RULES.write_text(json.dumps(DEFAULT_PROVIDER_RULES, indent=2) + "\n")

    provider = ManagedProcess(
        "provider",
        [
            sys.executable,
            "-m",
            "tools.provider_sim",
            "--listen",
            f"{HOST}:{PROVIDER_SIP_PORT}",
            "--edge",
            f"{HOST}:{SIP_PORT}",
            "--rules",
            str(PROVIDER_RULES),
            "--control-port",
            str(PROVIDER_CONTROL_PORT),
        ],
        DATA / "provider.log",
        http_ok(f"http://{HOST}:{PROVIDER_CONTROL_PORT}/health"),
    )
    edge = ManagedProcess(
        "sip_edge",
        edge_command(),
        DATA / "sip_edge.log",
        http_ok(f"http://{HOST}:{EDGE_CONTROL_PORT}/health"),
        env=settings.as_env(),
    )
    return [process_part(provider, 30, before_start=write_rules), process_part(edge, 60)]


def local_settings() -> Settings:
    """The settings with the fixed local endpoints filled in; passed to children as env. The
    children run with PBX_ENVIRONMENT=local: the development secrets are allowed."""
    return get_settings().model_copy(
        update={
            "pbx_environment": LOCAL_ENVIRONMENT,
            "configdb_endpoints": [f"http://{HOST}:{h}" for h, _, _ in CONFIGDB_PORTS],
            "storage_connection": azurite_connection_string(HOST, 10000, 10001, 10002),
            "smtp_host": HOST,
            "smtp_port": SMTP_PORT,
            "data_dir": DATA,
            "sip_host": HOST,
            "sip_port": SIP_PORT,
            "edge_control_port": EDGE_CONTROL_PORT,
            "edge_control_url": f"http://{HOST}:{EDGE_CONTROL_PORT}",
            "provider_address": f"{HOST}:{PROVIDER_SIP_PORT}",
        }
    )


def main() -> int:
    settings = local_settings()
    parts, ports, azurite, cluster = build(settings)
    busy = [f"{port} ({who})" for port, who in ports.items() if port_open(HOST, port, timeout=0.2)]
    if busy:
        print(f"ports already in use: {', '.join(busy)}. Is another `make run` running?", file=sys.stderr)
        return 1

    signal.signal(signal.SIGINT, _raise_shutdown)
    signal.signal(signal.SIGTERM, _raise_shutdown)
    started: list[Part] = []
    code = 0
    try:
        # Storage, the shard and the mail catcher do not depend on each other: start them together.
        # The functions host comes last: it needs them all.
        for group in (parts[:3], parts[3:]):
            for part in group:
                print(f"starting {part.name}...", flush=True)
                started.append(part)
                part.start()
            for part in group:
                part.wait_ready(part.ready_timeout)
                print(f"  {part.name} is ready", flush=True)
        print_urls(settings, azurite, cluster, DEVHOST_MAIN.exists())
        while True:
            for part in started:
                why = part.died()
                if why:
                    print(f"\n{why}: stopping everything", file=sys.stderr, flush=True)
                    code = 1
                    raise Shutdown("child died")
            time.sleep(0.5)
    except Shutdown:
        pass
    except (RuntimeError, TimeoutError) as exc:
        print(f"\ncould not start: {exc}", file=sys.stderr, flush=True)
        code = 1
    finally:
        # Stop in reverse order, without letting a second Ctrl-C interrupt the clean-up.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("\nstopping...", flush=True)
        for part in reversed(started):
            part.stop()
            print(f"  {part.name} stopped", flush=True)
        print("stopped.", flush=True)
    return code


def print_urls(settings: Settings, azurite: Azurite, cluster: LocalCluster, devhost: bool) -> None:
    token = settings.configdb_token.get_secret_value()
    print("\nThe local platform is up:")
    if devhost:
        api = f"http://{HOST}:{API_PORT}/api"
        print(f"  API:          {api}  (docs {api}/docs, health {api}/v1/health)  log .data/functions.log")
    else:
        print("  API:          not started (functions/devhost is missing)")
    print(f"  Azurite:      blob {azurite.blob_url}  queue {azurite.queue_url}  table {azurite.table_url}")
    print("                data .data/azurite  log .data/azurite.log")
    print(
        f"  SMTP:         smtp://{HOST}:{SMTP_PORT}  mail -> {MAIL_DIR.relative_to(REPO)}  log .data/smtp.log"
    )
    for n in cluster.nodes:
        log = n.log_path.relative_to(REPO)
        print(f"  ConfigDB {n.node_id}:  {n.http}  stream tcp://{n.stream}  raft {n.raft}  log {log}")
    print(f"  ConfigDB admin token: {token}  (functions and edge: scoped tokens of their own)")
    print(
        f"  SIP edge:     sip:{HOST}:{SIP_PORT} (UDP and TCP)  control http://{HOST}:{EDGE_CONTROL_PORT}"
        "  log .data/sip_edge.log"
    )
    print(
        f"  Provider:     sip:{HOST}:{PROVIDER_SIP_PORT} answers forwarded legs;"
        f" rules {PROVIDER_RULES.relative_to(REPO)} (live: http://{HOST}:{PROVIDER_CONTROL_PORT}/rules)"
        "  log .data/provider.log"
    )
    if WEB_ROOT.is_dir():
        print(
            f"  Web portal:   http://{HOST}:{WEB_PORT}  (config.json apiBase http://{HOST}:{API_PORT}/api/v1)"
            "  log .data/web.log"
        )
    print(f"  try a call:   .venv/bin/python -m tools.caller +1555... --edge {HOST}:{SIP_PORT} --digits 1")
    print(
        f"  try: CONFIGDB_TOKEN={token} .venv/bin/python -m configdb_nodes.admin --endpoints "
        f"{','.join(cluster.endpoints)} status"
    )
    print("Ctrl-C stops everything.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
