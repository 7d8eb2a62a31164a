"""Run one ConfigDB node.

    python -m configdb_nodes --node-id n1 --data-dir DIR --http 127.0.0.1:PORT --stream 127.0.0.1:PORT \
        --raft 127.0.0.1:PORT --peers HOST:PORT,HOST:PORT [--topology FILE] \
        [--token-file F] [--peer-token-file F] [--tokens-file F] [--tls-cert F --tls-key F [--tls-ca F]]

Credentials come from the environment or from files, never from the command line:
CONFIGDB_TOKEN (or --token-file) is the admin client token, CONFIGDB_PEER_TOKEN (or
--peer-token-file) the token the Raft peers present to one another, and CONFIGDB_TOKENS (or
--tokens-file) the scoped client tokens (configdb_nodes/auth.py). Without PBX_ENVIRONMENT=local
a node does not start on the development tokens. With --tls-cert/--tls-key the HTTP, stream
and Raft ports speak TLS; peers verify one another with --tls-ca (default: the certificate
itself, for a self-signed one).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import signal
import ssl
import sys
from pathlib import Path

import uvicorn
import uvloop

from shared.settings import (
    DEV_CONFIGDB_PEER_TOKEN,
    DEV_CONFIGDB_TOKEN,
    DEV_SECRETS,
    NodeEnvironment,
    require_production_secrets,
)
from shared.telemetry import setup_telemetry

from .auth import TokenTable, TokenTableError, parse_entries
from .http_api import create_app
from .logging_setup import configure_logging
from .node import Node, NodeOptions
from .stream import StreamServer
from .topology import Topology


def _addr(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m configdb_nodes", description="Run one ConfigDB node.")
    p.add_argument("--node-id", required=True)
    p.add_argument("--data-dir", required=True)
    p.add_argument("--http", required=True, type=_addr)
    p.add_argument("--stream", required=True, type=_addr)
    p.add_argument("--raft", required=True, type=_addr)
    p.add_argument("--peers", default="", help="the other members' raft addresses, comma-separated")
    p.add_argument("--token-file", type=Path, help="a file holding the admin token (else $CONFIGDB_TOKEN)")
    p.add_argument(
        "--peer-token-file",
        type=Path,
        help="a file holding the Raft peers' token (else $CONFIGDB_PEER_TOKEN)",
    )
    p.add_argument(
        "--tokens-file", type=Path, help="a JSON file of scoped client tokens (else $CONFIGDB_TOKENS)"
    )
    p.add_argument("--topology", help="JSON file of regions, shards and nodes (see topology.py)")
    p.add_argument("--region", default="local", help="region name when no topology file is given")
    p.add_argument("--shard", default="s1", help="shard name when no topology file is given")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument(
        "--tls-ca", help="CA file the Raft peers' certificates are verified with (default: --tls-cert)"
    )
    p.add_argument(
        "--history-retain",
        type=int,
        default=100_000,
        help="revisions of watch history kept before compaction",
    )
    p.add_argument("--tick-ms", type=int, default=20)
    p.add_argument(
        "--snapshot-entries",
        type=int,
        default=20_000,
        help="compact the raft log once this many entries are applied past the last compaction",
    )
    p.add_argument(
        "--listener-buffer",
        type=int,
        default=10_000,
        help="revisions queued for one listener before it is disconnected as slow",
    )
    args = p.parse_args(argv)
    if bool(args.tls_cert) != bool(args.tls_key):
        p.error("--tls-cert and --tls-key go together")
    if args.tls_ca and not args.tls_cert:
        p.error("--tls-ca needs --tls-cert and --tls-key")
    try:
        args.peer_list = [
            f"{h}:{port}" for h, port in (_addr(x.strip()) for x in args.peers.split(",") if x.strip())
        ]
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    return args


class Credentials:
    """The node's admin and peer tokens and its client token table, checked for production."""

    def __init__(self, args: argparse.Namespace, env: NodeEnvironment) -> None:
        admin = (
            _read_secret(args.token_file, "--token-file") if args.token_file else env.secret("configdb_token")
        )
        peer = (
            _read_secret(args.peer_token_file, "--peer-token-file")
            if args.peer_token_file
            else env.secret("configdb_peer_token")
        )
        table = (
            _read_secret(args.tokens_file, "--tokens-file")
            if args.tokens_file
            else env.secret("configdb_tokens")
        )
        try:
            entries = parse_entries(table)
        except TokenTableError as exc:
            raise SystemExit(f"CONFIGDB_TOKENS: {exc}") from None
        dev_digests = {hashlib.sha256(d.encode()).digest(): d for d in DEV_SECRETS}
        secrets: dict[str, str | None] = {"CONFIGDB_TOKEN": admin, "CONFIGDB_PEER_TOKEN": peer}
        for entry in entries:
            secrets[f"CONFIGDB_TOKENS ({entry.name})"] = dev_digests.get(entry.digest, "")
        require_production_secrets(env.pbx_environment, secrets)
        self.peer = peer or DEV_CONFIGDB_PEER_TOKEN
        try:
            self.clients = TokenTable.build(admin or DEV_CONFIGDB_TOKEN, table)
        except TokenTableError as exc:
            raise SystemExit(f"CONFIGDB_TOKENS: {exc}") from None
        if self.clients.holds(self.peer):
            raise SystemExit(
                "CONFIGDB_PEER_TOKEN is also a client token: give the Raft peers a token of their own."
            )


def _read_secret(path: Path, flag: str) -> str:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise SystemExit(f"{flag} {path}: {exc.strerror}") from None
    if not text:
        raise SystemExit(f"{flag} {path} is empty")
    return text


def raft_tls(args: argparse.Namespace) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """The Raft port's server context and the context a node dials its peers with."""
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(args.tls_cert, args.tls_key)
    client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=args.tls_ca or args.tls_cert)
    return server, client


async def serve(args: argparse.Namespace, creds: Credentials) -> None:
    tls = bool(args.tls_cert)
    scheme = "https" if tls else "http"
    http_host, http_port = args.http
    stream_host, stream_port = args.stream
    raft_host, raft_port = args.raft
    topology = Topology.load(args.topology) if args.topology else None
    region, shard = args.region, args.shard
    if topology is not None:
        located = topology.locate_node(args.node_id)
        if located is None:
            raise SystemExit(f"node {args.node_id} is not in the topology file {args.topology}")
        region, shard = located
    node = Node(
        NodeOptions(
            node_id=args.node_id,
            data_dir=args.data_dir,
            raft_addr=f"{raft_host}:{raft_port}",
            peers=args.peer_list,
            token=creds.peer,
            http_url=f"{scheme}://{http_host}:{http_port}",
            stream_url=f"{'tls' if tls else 'tcp'}://{stream_host}:{stream_port}",
            tick_seconds=args.tick_ms / 1000,
            history_retain=args.history_retain,
            listener_capacity=args.listener_buffer,
            compact_every=args.snapshot_entries,
            compact_keep=max(1, args.snapshot_entries // 4),
        )
    )
    if tls:
        node.transport.use_tls(*raft_tls(args))
    await node.start()
    ssl_ctx = None
    if tls:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(args.tls_cert, args.tls_key)
    streams = StreamServer(node, creds.clients)
    await streams.start(stream_host, stream_port, ssl=ssl_ctx)
    config = uvicorn.Config(
        create_app(node, creds.clients, topology, region, shard),
        host=http_host,
        port=http_port,
        log_level="warning",
        access_log=False,
        ssl_certfile=args.tls_cert,
        ssl_keyfile=args.tls_key,
        lifespan="off",
        http="httptools",
        loop="none",
        timeout_keep_alive=30,
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    http_task = asyncio.create_task(server.serve())
    logging.getLogger("configdb").info(
        "node %s ready http=%s stream=%s raft=%s peers=%s",
        args.node_id,
        node.opts.http_url,
        node.opts.stream_url,
        node.opts.raft_addr,
        ",".join(args.peer_list),
    )
    await stop.wait()
    server.should_exit = True
    await http_task
    await streams.stop()
    await node.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    env = NodeEnvironment()
    creds = Credentials(args, env)
    configure_logging(node_id=args.node_id)
    setup_telemetry("configdb-node", env, instance=args.node_id)
    try:
        uvloop.run(serve(args, creds))
    except OSError as exc:
        print(f"configdb node {args.node_id}: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
