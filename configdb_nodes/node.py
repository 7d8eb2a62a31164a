"""Process wiring of one ConfigDB node: Raft core, its durable log, the state machine,
the peer transport, and the loop that turns each Ready into disk writes, messages and
applied commands.

The loop sends a leader's replication messages first, then persists the Ready's entries
on a worker thread (LevelDB releases the GIL while it syncs), so that the leader's disk
write overlaps its followers' and the event loop keeps reading client requests meanwhile.
The core accepts inputs between `ready()` and `advance()`: everything that arrives while
a Ready is being written is batched into the next one (one synced write, one APP per
follower), which is how concurrent client writes share a sync (group commit).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import os
import random
import time
import uuid
from dataclasses import dataclass, field

from .apply import Applier
from .commands import Command, Result
from .metrics import NodeGauges, NodeMetrics
from .raft.core import RaftCore
from .raft.log_store import LogStore
from .raft.transport import Transport
from .raft.types import Message, RaftConfig, Ready, RestoredState, Role, Snapshot, SnapshotMeta
from .storage import DataStore
from .watch import WatchHub

log = logging.getLogger("configdb.node")


class NoLeader(Exception):
    """No leader is known right now; retry shortly."""


class Timeout(Exception):
    """The outcome is unknown; retry with the same request id."""


@dataclass(frozen=True)
class NodeOptions:
    node_id: str
    data_dir: str
    raft_addr: str
    peers: list[str]
    token: str
    http_url: str
    stream_url: str
    tick_seconds: float = 0.02
    raft: RaftConfig = field(default_factory=RaftConfig)
    history_retain: int = 100_000
    compact_every: int = 20_000
    compact_keep: int = 5_000
    write_timeout: float = 5.0
    listener_capacity: int = 10_000


class Node:
    def __init__(self, opts: NodeOptions) -> None:
        self.opts = opts
        os.makedirs(opts.data_dir, exist_ok=True)
        self.store = DataStore(os.path.join(opts.data_dir, "data"))
        self.log_store = LogStore(os.path.join(opts.data_dir, "raft"))
        self.applier = Applier(self.store, opts.history_retain)
        self.metrics = NodeMetrics()
        self.hub = WatchHub(opts.listener_capacity, on_cut_off=self.metrics.watchers_cut_off.inc)
        hs, snap, entries = self.log_store.load()
        self._stored_hs = hs  # the hard state in the log store, to know when a save must sync
        self._disk = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="raft-log")
        restored = RestoredState(hs, snap, tuple(entries), max(self.store.meta.applied_index, snap.index))
        self.snapshot_index = snap.index
        seed = int.from_bytes(os.urandom(8), "big")
        self.core = RaftCore(opts.raft_addr, list(opts.peers), opts.raft, restored, random.Random(seed))
        self.transport = Transport(
            opts.raft_addr,
            list(opts.peers),
            {
                "node_id": opts.node_id,
                "raft": opts.raft_addr,
                "http": opts.http_url,
                "stream": opts.stream_url,
            },
            opts.token,
            self.step,
        )
        self._wake = asyncio.Event()
        self._pending: dict[str, list[asyncio.Future[Result]]] = {}
        self._inflight: dict[str, bytes] = {}  # rid -> encoded command, re-proposed on a leader change
        self._leader_changed = False
        self._reads: dict[bytes, asyncio.Future[int]] = {}
        self._read_waiters: list[tuple[int, asyncio.Future[int]]] = []
        self._ctx = itertools.count(1)
        self._tasks: list[asyncio.Task[None]] = []
        self._known_leader: str | None = None
        self.metrics.read_gauges(self.gauges)

    # ---- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        host, port = self.opts.raft_addr.rsplit(":", 1)
        await self.transport.start(host, int(port))
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._ticker())]
        self._wake.set()

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._disk.shutdown(wait=True)  # a cancelled Ready's write may still be running
        await self.transport.stop()
        self.store.close()
        self.log_store.close()

    # ---- inputs -----------------------------------------------------------------------
    def step(self, msg: Message) -> None:
        self.core.step(msg)
        self._wake.set()

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.opts.tick_seconds)
            self.core.tick()
            self._wake.set()

    async def propose(self, cmd: Command) -> Result:
        """Replicate a command and return its result once it is applied on this node.

        Raises NoLeader (nothing was proposed) or Timeout (outcome unknown)."""
        fut: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        waiters = self._pending.setdefault(cmd.rid, [])
        waiters.append(fut)
        data = cmd.encode()
        try:
            if not self.core.propose(data):
                raise NoLeader()
            self._inflight[cmd.rid] = data
            self._wake.set()
            return await asyncio.wait_for(asyncio.shield(fut), self.opts.write_timeout)
        except TimeoutError as exc:
            raise Timeout() from exc
        finally:
            waiters.remove(fut)
            if not waiters:
                self._pending.pop(cmd.rid, None)
                self._inflight.pop(cmd.rid, None)

    async def read_barrier(self, timeout: float = 3.0) -> None:
        """Wait until this node has applied everything committed before the call (ReadIndex)."""
        ctx = next(self._ctx).to_bytes(8, "big") + uuid.uuid4().bytes[:4]
        fut: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._reads[ctx] = fut
        try:
            if self.core.leader is None:
                raise NoLeader()
            self.core.read_index(ctx)
            self._wake.set()
            await asyncio.wait_for(fut, timeout)
        except TimeoutError as exc:
            raise Timeout() from exc
        finally:
            self._reads.pop(ctx, None)

    # ---- the Ready loop ---------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                while self.core.has_ready():
                    rd = self.core.ready()
                    await self._handle(rd)
                    self.core.advance(rd)
                    self._maybe_compact()
                    if self._leader_changed:
                        self._repropose()
            except Exception:
                log.exception("raft loop failed; stopping the node")
                os._exit(70)

    async def _handle(self, rd: Ready) -> None:
        for m in rd.messages[: rd.early]:
            self.transport.send(m)
        if rd.soft_state is not None:
            log.info(
                "raft role=%s leader=%s term=%s",
                rd.soft_state.role.value,
                rd.soft_state.leader,
                self.core.term,
            )
            # A write forwarded to a leader that died (or lost its leadership) was dropped
            # with it: hand our in-flight writes to the leader we just learned of.
            if rd.soft_state.leader is not None and self._inflight:
                self._leader_changed = True
            if rd.soft_state.leader != self._known_leader:
                self._known_leader = rd.soft_state.leader
                self.metrics.leader_changes.inc()
        if rd.snapshot is not None:
            self._install(rd.snapshot)
        if rd.entries or self._must_sync(rd):
            with self.metrics.fsync_seconds.time():
                await asyncio.get_running_loop().run_in_executor(
                    self._disk, self.log_store.save, rd.hard_state, rd.entries, True
                )
        elif rd.hard_state is not None:
            self.log_store.save(rd.hard_state, [], sync=False)  # only the commit index moved
        if rd.hard_state is not None:
            self._stored_hs = rd.hard_state
        for m in rd.messages[rd.early :]:
            self.transport.send(m)
        for entry in rd.committed_entries:
            applied = self.applier.apply(entry)
            if applied.events:
                self.hub.notify(applied.revision, applied.events)
            if applied.rid is not None and applied.result is not None:
                for fut in self._pending.get(applied.rid, ()):
                    if not fut.done():
                        fut.set_result(applied.result)
        for rs in rd.read_states:
            fut = self._reads.get(rs.context)
            if fut is not None and not fut.done():
                self._read_waiters.append((rs.index, fut))
        if self._read_waiters:
            applied_index = self.store.meta.applied_index
            still = []
            for index, fut in self._read_waiters:
                if index <= applied_index:
                    if not fut.done():
                        fut.set_result(index)
                else:
                    still.append((index, fut))
            self._read_waiters = still
        for peer in rd.snapshot_requests:
            meta, data = self.store.export_image()
            self.core.send_snapshot(peer, Snapshot(SnapshotMeta(meta.applied_index, meta.applied_term), data))

    def _must_sync(self, rd: Ready) -> bool:
        """Entries, a new term or a new vote must be durable before the Ready's messages go
        out; a commit index alone need not be (etcd's MustSync)."""
        hs, old = rd.hard_state, self._stored_hs
        return hs is not None and (hs.term != old.term or hs.vote != old.vote)

    def _repropose(self) -> None:
        """A new leader may never have seen our in-flight writes: propose them again. The
        request id makes a command that did commit under the old leader apply only once."""
        self._leader_changed = False
        for data in self._inflight.values():
            self.core.propose(data)

    def _install(self, snap: Snapshot) -> None:
        log.info("installing snapshot index=%s term=%s", snap.meta.index, snap.meta.term)
        self.store.import_image(snap.data)
        self.log_store.install_snapshot(snap.meta)
        self.snapshot_index = snap.meta.index
        self.hub.cut_off_all()  # their history jumped: make them resume

    def _maybe_compact(self) -> None:
        applied = self.store.meta.applied_index
        if applied - self.snapshot_index < self.opts.compact_every:
            return
        index = applied - self.opts.compact_keep
        term = self.log_store.term_at(index)
        if term is None:
            return
        with self.metrics.fsync_seconds.time():
            self.store.sync()  # the state covering `index` must be durable before its log goes
        self.core.compact(index)
        self.log_store.compact(SnapshotMeta(index, term))
        self.snapshot_index = index

    # ---- observation ------------------------------------------------------------------
    def gauges(self) -> NodeGauges:
        return NodeGauges(
            role=self.core.role,
            term=self.core.term,
            commit_index=self.core.commit_index,
            applied_index=self.store.meta.applied_index,
            leader_known=self.core.leader is not None,
            watchers=len(self.hub.listeners),
        )

    async def readiness(self, timeout: float = 1.0) -> str | None:
        """None when the node can serve its clients, else the reason it cannot.

        Ready: the node knows a leader of its current term (a leader that loses its quorum steps
        down, and a follower cut off from the leader campaigns, within two election timeouts,
        so both stop knowing one), and it has applied every entry it knew committed when asked
        (waited for up to `timeout`: applying runs right after a commit, so only a node
        installing a snapshot or far behind is refused for that).
        """
        if self.core.leader is None:
            return f"no known leader in term {self.core.term} (role {self.core.role.value})"
        target = self.core.commit_index
        deadline = time.monotonic() + timeout
        while self.store.meta.applied_index < target:
            if time.monotonic() >= deadline:
                return f"applied index {self.store.meta.applied_index} is behind commit index {target}"
            await asyncio.sleep(0.01)
        return None

    def status(self) -> dict[str, object]:
        now = time.monotonic()
        leader = self.core.leader
        leader_id = None
        if leader == self.opts.raft_addr:
            leader_id = self.opts.node_id
        elif leader is not None:
            info = self.transport.peers.get(leader)
            leader_id = info.node_id if info and info.node_id else leader
        meta = self.store.meta
        return {
            "node_id": self.opts.node_id,
            "role": "leader" if self.core.role == Role.LEADER else "follower",
            "raft_role": self.core.role.value,
            "leader_id": leader_id,
            "term": self.core.term,
            "commit_index": self.core.commit_index,
            "applied_index": meta.applied_index,
            "revision": meta.revision,
            "applied_revision": meta.revision,
            "compact_revision": meta.compact_revision,
            "http": self.opts.http_url,
            "stream": self.opts.stream_url,
            "peers": [
                {
                    "node_id": p.node_id,
                    "raft": p.raft,
                    "http": p.http,
                    "stream": p.stream,
                    "reachable": p.reachable(now),
                }
                for p in self.transport.peers.values()
            ],
        }
