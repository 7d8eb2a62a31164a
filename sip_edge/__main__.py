"""`python -m sip_edge`: one edge process (one unit of capacity).

Settings come from `shared.settings.Settings` (environment / local.settings.json):
SIP_HOST, SIP_PORT, TRUNK_ALLOWED_SOURCES, PROVIDER_ADDRESS, CALLER_ID_POLICY,
EDGE_CONTROL_HOST (the address the call-control API binds; default 127.0.0.1),
EDGE_CONTROL_PORT, EDGE_CONTROL_TOKEN, EDGE_MAX_LEGS, EDGE_TENANT_SHARE, EDGE_DRAIN_SECONDS,
CONFIGDB_ENDPOINTS, CONFIGDB_EDGE_TOKEN (a read-only ConfigDB token), AzureWebJobsStorage (Azurite's
connection string) or AzureWebJobsStorage__accountName (the managed identity), DATA_DIR, MONGODB_URI,
KEY_VAULT_URL (secrets from Key Vault, below the environment), and ServiceBusConnection (or
ServiceBusConnection__fullyQualifiedNamespace): with either set, call-ended and push messages go
to Service Bus, else to the Storage queues.
Command-line flags override the ports. Without PBX_ENVIRONMENT=local the edge exits unless
CONFIGDB_EDGE_TOKEN and EDGE_CONTROL_TOKEN hold values of their own and storage is reached with the
managed identity (AzureWebJobsStorage__accountName; a connection string is refused).

Rates: the table in Blob `rates` is loaded at start (storage down: a `rates_unavailable` warning and
the edge starts unpriced) and refreshed every 5 minutes; answered placed legs are priced by it.

SIGTERM or SIGINT: refuse new calls (503), let live calls finish for up to EDGE_DRAIN_SECONDS,
then stop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path

import uvicorn

from shared.adapters.azure_credentials import close_process_credential, storage_endpoint
from shared.adapters.blob_media import BlobMedia
from shared.adapters.bus_transport import make_bus
from shared.adapters.history import open_history_store
from shared.adapters.history.aio import AsyncHistoryStore
from shared.billing.services.rates import RateTableCache
from shared.configdb.aio import AsyncConfigDBClient
from shared.errors import Unavailable
from shared.logs import configure_logging, log_event
from shared.ports import SystemClock
from shared.settings import Settings
from shared.telemetry import setup_telemetry
from sip_edge.announcements import EdgePrompts
from sip_edge.call_flow import EdgeDeps
from sip_edge.config_sync import ConfigSync
from sip_edge.control_api import create_control_app
from sip_edge.directory import TenantDirectory
from sip_edge.media.engine import MediaEngine
from sip_edge.media.prompts import PromptCache
from sip_edge.media.uploader import SpoolingUploader
from sip_edge.metrics import EdgeMetrics
from sip_edge.probes import EdgeReadiness
from sip_edge.service import EdgeCalls, TrunkPolicy
from sip_edge.sip.baresip_stack import BaresipStack
from sip_edge.sip.port import ListenAddress, StackSettings
from sip_edge.source_limit import SourceLimiter

log = logging.getLogger("sip_edge")

RATES_REFRESH_S = 300.0
# What a production edge must not run on the development values of.
EDGE_SECRETS = ("configdb_edge_token", "edge_control_token", "storage_connection")


async def refresh_rates(rates: RateTableCache) -> None:
    """One refresh; storage being down is a structured warning (the table already loaded stays)."""
    try:
        if await rates.refresh():
            table = rates.table
            log_event(
                log,
                "rates_loaded",
                version=table.version if table else None,
                rows=len(table.rates) if table else 0,
            )
    except Unavailable as exc:
        log_event(
            log,
            "rates_unavailable",
            logging.WARNING,
            error=str(exc),
            version=rates.table.version if rates.table else None,
        )


async def keep_rates_fresh(rates: RateTableCache, every_s: float = RATES_REFRESH_S) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await refresh_rates(rates)
        except Exception as exc:  # a bad refresh must not end the refreshing
            log_event(log, "rates_refresh_failed", logging.WARNING, error=repr(exc))


async def serve(settings: Settings, *, data_dir: Path) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    metrics = EdgeMetrics()
    directory = TenantDirectory()
    token = settings.configdb_edge_token.get_secret_value()
    db = AsyncConfigDBClient(settings.configdb_endpoints, token, timeout=3.0)
    sync = ConfigSync(db, directory, on_change=lambda _c: metrics.config_revision.set(directory.revision))
    await sync.start()
    metrics.config_revision.set(directory.revision)

    # Azurite's connection string, or the managed identity; the uploader retries on its own
    blobs = BlobMedia(storage_endpoint(settings, "blob"), retry_total=0)
    uploader = SpoolingUploader(blobs, data_dir / "spool")
    await uploader.start()
    rates = RateTableCache(blobs)
    await refresh_rates(rates)
    rates_task = asyncio.create_task(keep_rates_fresh(rates))
    history = AsyncHistoryStore(open_history_store(settings))
    bus = make_bus(settings)  # Service Bus when ServiceBusConnection is set, as the functions
    engine = MediaEngine(loop=loop)
    engine.start()
    stack = BaresipStack(
        StackSettings(
            max_legs=settings.edge_max_legs,
            bind_address=settings.sip_host,
            rtp_timeout_s=settings.edge_rtp_timeout_s,
            rtp_ports=settings.rtp_port_range,
        )
    )
    deps = EdgeDeps(
        stack=stack,
        engine=engine,
        directory=directory,
        prompts=EdgePrompts(PromptCache(blobs, data_dir / "prompts")),
        media=uploader,
        history=history,
        bus=bus,
        metrics=metrics,
        clock=SystemClock(),
        provider=settings.provider_address,
        caller_id_policy=settings.caller_id_policy,
        rates=rates,
    )
    edge = EdgeCalls(
        deps,
        TrunkPolicy(tuple(settings.trunk_allowed_sources)),
        max_legs=settings.edge_max_legs,
        config_status=sync.status,
        tenant_share=settings.edge_tenant_share,
        invite_limit=SourceLimiter(
            time.monotonic, settings.sip_invite_rate_per_source, settings.sip_invite_burst_per_source
        ),
    )
    stack.on_invite(edge.handle_invite)
    await stack.start(ListenAddress(settings.sip_host, settings.sip_port))

    ready = EdgeReadiness(lambda: stack.listening, sync, lambda: edge.draining)
    app = create_control_app(edge, settings.edge_control_token.get_secret_value(), ready)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.edge_control_host,
            port=settings.edge_control_port,
            log_level="warning",
            lifespan="off",
        )
    )
    server_task = asyncio.create_task(server.serve())
    log_event(
        log,
        "edge_ready",
        sip=f"{settings.sip_host}:{settings.sip_port}",
        control=f"http://{settings.edge_control_host}:{settings.edge_control_port}",
        provider=settings.provider_address,
        config_revision=directory.revision,
        tenants=len(directory.tenant_ids()),
        rates_version=rates.table.version if rates.table else None,
    )
    await stop.wait()
    await edge.drain(settings.edge_drain_seconds)
    await stack.drain(1.0)
    server.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(server_task, 5)
    await stack.stop()
    engine.stop()
    rates_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await rates_task
    await sync.stop()
    await uploader.stop()
    await db.aclose()
    with contextlib.suppress(Exception):
        await bus.aclose()
    with contextlib.suppress(Exception):
        await blobs.aclose()
    close_process_credential()
    log_event(log, "edge_stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sip_edge", description=__doc__.splitlines()[0])
    parser.add_argument("--sip-host")
    parser.add_argument("--sip-port", type=int)
    parser.add_argument("--control-port", type=int)
    parser.add_argument("--provider", help="host:port of the provider for outbound legs")
    parser.add_argument("--data-dir", type=Path, help="spool and prompt cache (default DATA_DIR/edge)")
    args = parser.parse_args(argv)
    overrides = {
        k: v
        for k, v in {
            "sip_host": args.sip_host,
            "sip_port": args.sip_port,
            "edge_control_port": args.control_port,
            "provider_address": args.provider,
        }.items()
        if v is not None
    }
    settings = Settings(**overrides)
    settings.require_secrets(*EDGE_SECRETS)
    configure_logging(logging.INFO, service="sip_edge")
    setup_telemetry("sip-edge", settings)
    data_dir = args.data_dir or settings.data_dir / "edge"
    asyncio.run(serve(settings, data_dir=data_dir))


if __name__ == "__main__":
    main()
