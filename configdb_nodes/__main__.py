"""Run one ConfigDB node.

    python -m configdb_nodes --node-id n1 --data-dir DIR --http 127.0.0.1:PORT --stream 127.0.0.1:PORT \
        --raft 127.0.0.1:PORT --peers HOST:PORT,HOST:PORT --token TOKEN [--topology FILE] \
        [--tls-cert F --tls-key F]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import ssl
import sys

import uvicorn
import uvloop

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
    p.add_argument("--token", required=True)
    p.add_argument("--topology", help="JSON file of regions, shards and nodes (see topology.py)")
    p.add_argument("--region", default="local", help="region name when no topology file is given")
    p.add_argument("--shard", default="s1", help="shard name when no topology file is given")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
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
    try:
        args.peer_list = [
            f"{h}:{port}" for h, port in (_addr(x.strip()) for x in args.peers.split(",") if x.strip())
        ]
    except argparse.ArgumentTypeError as exc:
        p.error(str(exc))
    return args


async def serve(args: argparse.Namespace) -> None:
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
            token=args.token,
            http_url=f"{scheme}://{http_host}:{http_port}",
            stream_url=f"{'tls' if tls else 'tcp'}://{stream_host}:{stream_port}",
            tick_seconds=args.tick_ms / 1000,
            history_retain=args.history_retain,
            listener_capacity=args.listener_buffer,
            compact_every=args.snapshot_entries,
            compact_keep=max(1, args.snapshot_entries // 4),
        )
    )
    await node.start()
    ssl_ctx = None
    if tls:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(args.tls_cert, args.tls_key)
    streams = StreamServer(node, args.token)
    await streams.start(stream_host, stream_port, ssl=ssl_ctx)
    config = uvicorn.Config(
        create_app(node, args.token, topology, region, shard),
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
    configure_logging(node_id=args.node_id)
    try:
        uvloop.run(serve(args))
    except OSError as exc:
        print(f"configdb node {args.node_id}: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc


if __name__ == "__main__":
    main()
