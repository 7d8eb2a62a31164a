"""Deterministic simulation of a Raft cluster that drives the real `RaftCore`.

Everything (scheduling, network faults, crashes, client traffic, the cores' election
timers) comes from one seed, so a failing run replays exactly:

    .venv/bin/python -m configdb_nodes.raft.sim --seed 1234 --nodes 5 [--trace]

The model:

* Every node has durable storage (hard state, snapshot, log entries) and a state
  machine that applies commands (`b"c<id>"`) once per command id, like the real node.
* The shell takes a Ready at one random step, sending its early messages (a leader's
  replication) at once, and processes it at a later one (install snapshot, persist,
  send the other messages, apply, answer reads and snapshot requests, advance), and now
  and then compacts its log behind a snapshot. A crash loses the core, any Ready not
  yet processed and, half the time, the state machine beyond its last snapshot.
* The network delays (random delivery order), drops, duplicates and reorders messages;
  partitions (sometimes one-way) form and heal.
* Clients propose new commands to random nodes, retry unacknowledged ones (same id) and
  issue ReadIndex reads. A command is acknowledged when a node it was proposed to applies it.

Checked after every step: election safety, log matching, leader completeness, state
machine safety and read linearizability. At the end everything heals; a leader must
emerge and a fresh command must commit everywhere within a bounded number of rounds,
every acknowledged command must be applied exactly once everywhere, and all state
machines must be equal.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from .core import RaftCore
from .types import (
    Entry,
    HardState,
    Message,
    RaftConfig,
    ReadState,
    Ready,
    RestoredState,
    Role,
    Snapshot,
    SnapshotMeta,
)

LEADER_ROUNDS = 150  # rounds (one tick per node, then drain) to elect a leader after healing
COMMIT_ROUNDS = 150  # rounds for a fresh command to be applied on every node
DRAIN_LIMIT = 10_000  # events per drain (plus DRAIN_PER_ENTRY per log entry) before giving up
DRAIN_PER_ENTRY = 40

_EMPTY_IMAGE = (0, 0, ())


class SimFailure(AssertionError):
    """An invariant violation, carrying the replay command."""


@dataclass(frozen=True, slots=True)
class SimParams:
    steps: int = 4000  # random steps before the final heal-and-check phase


@dataclass(frozen=True, slots=True)
class FaultProfile:
    """Per-seed fault and traffic rates (drawn from the seed, so runs differ in character:
    some calm, some stormy). Rates are relative weights of the step kinds."""

    drop: float  # chance a delivered message is lost
    dup: float  # chance a delivered message is delivered again later
    in_order: float  # chance the oldest message is delivered next (else a random one)
    crash: float
    restart: float
    partition: float
    heal: float
    propose: float
    read: float

    @classmethod
    def draw(cls, rng: random.Random) -> FaultProfile:
        return cls(
            drop=rng.choice((0.0, 0.03, 0.1, 0.25)),
            dup=rng.choice((0.0, 0.03, 0.1)),
            in_order=rng.choice((0.2, 0.6, 0.9)),
            crash=rng.choice((0.0, 0.15, 0.5)),
            restart=rng.choice((0.3, 2.0)),
            partition=rng.choice((0.0, 0.2, 0.8)),
            heal=rng.choice((0.2, 1.0)),
            propose=rng.choice((3.0, 8.0, 20.0)),
            read=rng.choice((1.0, 5.0)),
        )


@dataclass(slots=True)
class SimStats:
    steps: int = 0
    delivered: int = 0
    leaders: int = 0
    crashes: int = 0
    snapshots_installed: int = 0
    compactions: int = 0
    applied: int = 0
    acked: int = 0
    reads: int = 0


class StateMachine:
    """Applied commands in order, deduplicated by command id."""

    __slots__ = ("applied", "applied_term", "commands", "seen")

    def __init__(self, image: tuple[int, int, tuple[int, ...]] = _EMPTY_IMAGE) -> None:
        self.applied, self.applied_term, commands = image
        self.commands = list(commands)
        self.seen = set(commands)

    def apply(self, entry: Entry) -> int | None:
        """Apply one committed entry; returns its command id (None for a no-op)."""
        self.applied, self.applied_term = entry.index, entry.term
        if not entry.data:
            return None
        cid = int(entry.data[1:])
        if cid not in self.seen:
            self.seen.add(cid)
            self.commands.append(cid)
        return cid

    def image(self) -> tuple[int, int, tuple[int, ...]]:
        return self.applied, self.applied_term, tuple(self.commands)


@dataclass(slots=True)
class Storage:
    """What survives a crash."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot: Snapshot = field(default_factory=lambda: Snapshot(SnapshotMeta(), b""))
    entries: list[Entry] = field(default_factory=list)


@dataclass(slots=True)
class SimNode:
    id: str
    storage: Storage = field(default_factory=Storage)
    sm: StateMachine = field(default_factory=StateMachine)
    core: RaftCore | None = None
    held: Ready | None = None
    reads: dict[bytes, int] = field(default_factory=dict)  # ctx -> acks known at request time
    read_states: list[ReadState] = field(default_factory=list)
    commit_seen: int = 0
    led_terms: set[int] = field(default_factory=set)


class Simulation:
    def __init__(self, seed: int, nodes: int = 3, params: SimParams | None = None, trace: bool = False):
        self.seed = seed
        self.n = nodes
        self.params = params or SimParams()
        self.rng = random.Random(seed)
        self.trace: list[str] | None = [] if trace else None
        self.stats = SimStats()
        rng = self.rng
        self.config = RaftConfig(
            election_ticks=rng.choice((4, 6, 10)),
            heartbeat_ticks=rng.choice((1, 2)),
            max_entries_per_msg=rng.choice((1, 3, 64)),
            max_inflight_msgs=rng.choice((1, 2, 8, 256)),
            check_quorum=rng.random() < 0.8,
            pre_vote=rng.random() < 0.8,
        )
        self.compact_threshold = rng.choice((2, 5, 20))
        self.profile = FaultProfile.draw(rng)
        self.max_down = (nodes - 1) // 2
        self.drop = self.profile.drop
        self.dup = self.profile.dup
        self.ids = [f"n{i}" for i in range(nodes)]
        self.nodes = {i: SimNode(i) for i in self.ids}
        self.net: list[Message] = []
        self.blocked: set[tuple[str, str]] = set()
        self.images: dict[bytes, tuple[int, int, tuple[int, ...]]] = {b"": _EMPTY_IMAGE}
        # global knowledge for the invariants
        self.leader_of_term: dict[int, str] = {}
        self.log_entries: dict[tuple[int, int], tuple[bytes, int]] = {}  # (index, term) -> (data, prev term)
        self.committed_at: dict[int, int] = {}  # index -> term of an entry known committed there
        self.applied_at: dict[int, bytes] = {}  # index -> data applied there
        self.committed_by_term: dict[int, tuple[int, int]] = {}  # node term -> max (index, entry term)
        self.next_cmd = 0
        self.next_ctx = 0
        self.proposed_to: dict[int, list[str]] = {}
        self.unacked: list[int] = []
        self.acked: set[int] = set()
        self.ack_order: list[int] = []
        self.step_no = 0
        for node in self.nodes.values():
            self._start(node)

    # ---- driver -------------------------------------------------------------------------
    def run(self) -> SimStats:
        try:
            for step in range(1, self.params.steps + 1):
                self.step_no = step
                self._random_step()
                self._check_step()
            self.stats.steps = self.params.steps
            self._finish()
        except Exception as exc:
            raise self._failure(exc) from exc
        return self.stats

    def _failure(self, exc: Exception) -> SimFailure:
        what = str(exc) if isinstance(exc, AssertionError) else f"{type(exc).__name__}: {exc}"
        cmd = f".venv/bin/python -m configdb_nodes.raft.sim --seed {self.seed} --nodes {self.n}"
        if self.params.steps != SimParams().steps:
            cmd += f" --steps {self.params.steps}"
        lines = [f"raft sim seed {self.seed} ({self.n} nodes) failed at step {self.step_no}: {what}"]
        lines.append(f"  config: {self.config}")
        lines.append(f"  faults: {self.profile}")
        lines.append(f"  replay: {cmd} --trace")
        if self.trace:
            lines.append("  last events:")
            lines.extend(f"    {t}" for t in self.trace[-60:])
        return SimFailure("\n".join(lines))

    def _log(self, text: str) -> None:
        if self.trace is not None:
            self.trace.append(f"[{self.step_no}] {text}")

    def _random_step(self) -> None:
        rng = self.rng
        live = [n for n in self.nodes.values() if n.core is not None]
        down = self.n - len(live)
        fp = self.profile
        actions: list[tuple[float, Callable[[], None]]] = [
            (20.0 + 4.0 * len(self.net) if self.net else 0.0, self._deliver_one),  # keeps delays bounded
            (18.0, lambda: self._tick(rng.choice(live))),
            (24.0, lambda: self._ready_step(rng.choice(live))),
            (fp.propose, lambda: self._propose(rng.choice(live))),
            (fp.read, lambda: self._read(rng.choice(live))),
            (fp.crash if down < self.max_down else 0.0, lambda: self._crash(rng.choice(live))),
            (fp.restart if down else 0.0, self._restart_one),
            (fp.partition, self._partition),
            (fp.heal if self.blocked else 0.0, self._heal),
        ]
        r = rng.random() * sum(w for w, _ in actions)
        for weight, action in actions:
            r -= weight
            if r < 0 and weight:
                action()
                return

    # ---- node lifecycle -----------------------------------------------------------------
    def _start(self, node: SimNode) -> None:
        st = node.storage
        restored = RestoredState(
            hard_state=st.hard_state,
            snapshot_meta=st.snapshot.meta,
            entries=tuple(st.entries),
            applied=node.sm.applied,
        )
        peers = [i for i in self.ids if i != node.id]
        node.core = RaftCore(node.id, peers, self.config, restored, random.Random(self.rng.random()))
        node.commit_seen = node.core.commit_index

    def _crash(self, node: SimNode) -> None:
        self._log(f"crash {node.id} (held ready lost: {node.held is not None})")
        self.stats.crashes += 1
        node.core = None
        node.held = None
        node.reads.clear()
        node.read_states.clear()
        if self.rng.random() < 0.5:  # a volatile state machine restarts from the snapshot
            node.sm = StateMachine(self.images[node.storage.snapshot.data])

    def _restart_one(self) -> None:
        node = self.rng.choice([n for n in self.nodes.values() if n.core is None])
        self._log(f"restart {node.id} applied={node.sm.applied}")
        self._start(node)

    # ---- network --------------------------------------------------------------------------
    def _deliver_one(self, fifo: bool = False) -> None:
        """Deliver the oldest message, or (sometimes) a random one: reordering and delay."""
        net = self.net
        i = 0 if fifo or self.rng.random() < self.profile.in_order else self.rng.randrange(len(net))
        msg = net.pop(i)
        if self.rng.random() < self.dup:
            net.append(msg)
        if self.rng.random() < self.drop:
            return
        self._deliver(msg)

    def _deliver(self, msg: Message) -> None:
        node = self.nodes[msg.to]
        if node.core is None or (msg.frm, msg.to) in self.blocked:
            return
        self._log(f"deliver {_fmt(msg)}")
        self.stats.delivered += 1
        node.core.step(msg)

    def _partition(self) -> None:
        """Cut the cluster in two; half the time the newest leader lands in a minority."""
        ids = list(self.ids)
        self.rng.shuffle(ids)
        cut = self.rng.randrange(1, self.n)
        leaders = [n for n in self.nodes.values() if n.core is not None and n.core.role is Role.LEADER]
        if leaders and self.rng.random() < 0.5:
            leader = max(leaders, key=lambda n: n.core.term if n.core else 0).id
            ids.remove(leader)
            ids.insert(0, leader)
            cut = self.rng.randrange(1, (self.n + 1) // 2)
        one_way = self.rng.random() < 0.2
        left, right = ids[:cut], ids[cut:]
        for a in left:
            for b in right:
                self.blocked.add((a, b))
                if not one_way:
                    self.blocked.add((b, a))
        self._log(f"partition {left} {'->' if one_way else '|'} {right}")

    def _heal(self) -> None:
        self._log("heal")
        self.blocked.clear()

    # ---- shell --------------------------------------------------------------------------
    def _tick(self, node: SimNode) -> None:
        assert node.core is not None
        node.core.tick()

    def _ready_step(self, node: SimNode) -> None:
        """Take a Ready now, or process the one taken at an earlier step."""
        if node.held is not None:
            self._process(node)
        elif node.core is not None and node.core.has_ready():
            node.held = node.core.ready()
            self._check_ready(node, node.held)
            # a leader's early messages leave now, before the Ready is persisted (a crash
            # before `_process` loses its writes but not these)
            self.net.extend(node.held.messages[: node.held.early])

    def _process(self, node: SimNode) -> None:
        core, rd, st = node.core, node.held, node.storage
        assert core is not None and rd is not None
        node.held = None
        if rd.snapshot is not None:
            self._install_snapshot(node, rd.snapshot)
        if rd.entries:
            keep = rd.entries[0].index - st.snapshot.meta.index - 1
            assert 0 <= keep <= len(st.entries), (
                f"{node.id} persisting entries from {rd.entries[0].index} leaves a gap/overlap "
                f"(snapshot {st.snapshot.meta.index}, {len(st.entries)} stored)"
            )
            del st.entries[keep:]
            st.entries.extend(rd.entries)
        if rd.hard_state is not None:
            st.hard_state = rd.hard_state
        self.net.extend(rd.messages[rd.early :])
        for entry in rd.committed_entries:
            self._apply(node, entry)
        node.read_states.extend(rs for rs in rd.read_states if rs.context in node.reads)
        self._answer_reads(node)
        for peer in rd.snapshot_requests:
            core.send_snapshot(peer, self._make_snapshot(node))
        core.advance(rd)
        if node.sm.applied - st.snapshot.meta.index >= self.compact_threshold and self.rng.random() < 0.5:
            self._compact(node)

    def _install_snapshot(self, node: SimNode, snap: Snapshot) -> None:
        image = self.images[snap.data]
        assert image[:2] == (snap.meta.index, snap.meta.term), f"snapshot meta {snap.meta} != image"
        self._check_applied(snap.meta.index, snap.meta.term, None)
        self._log(f"{node.id} installs snapshot {snap.meta}")
        self.stats.snapshots_installed += 1
        node.sm = StateMachine(image)
        node.storage.snapshot = snap
        node.storage.entries = []
        self._answer_reads(node)

    def _make_snapshot(self, node: SimNode) -> Snapshot:
        key = f"{node.id}@{self.step_no}:{len(self.images)}".encode()
        self.images[key] = node.sm.image()
        return Snapshot(SnapshotMeta(node.sm.applied, node.sm.applied_term), key)

    def _compact(self, node: SimNode) -> None:
        assert node.core is not None
        st = node.storage
        snap = self._make_snapshot(node)
        index = snap.meta.index
        st.entries = [e for e in st.entries if e.index > index]
        st.snapshot = snap
        node.core.compact(index)
        self.stats.compactions += 1

    def _apply(self, node: SimNode, entry: Entry) -> None:
        sm = node.sm
        assert entry.index == sm.applied + 1, (
            f"{node.id} applies index {entry.index} after {sm.applied} (gap or re-delivery)"
        )
        self._check_applied(entry.index, entry.term, entry.data)
        cid = sm.apply(entry)
        self.stats.applied += 1
        if cid is not None and cid not in self.acked and node.id in self.proposed_to.get(cid, ()):
            self._ack(cid)

    def _ack(self, cid: int) -> None:
        self.acked.add(cid)
        self.ack_order.append(cid)
        self.stats.acked += 1

    def _answer_reads(self, node: SimNode) -> None:
        """Serve every read whose index is applied; it must see every write acked before it."""
        waiting = []
        for rs in node.read_states:
            if rs.index > node.sm.applied:
                waiting.append(rs)
                continue
            acked_before = node.reads.pop(rs.context, None)
            if acked_before is None:
                continue  # already answered (duplicate ReadState)
            missing = [c for c in self.ack_order[:acked_before] if c not in node.sm.seen]
            assert not missing, (
                f"stale read on {node.id}: ReadState {rs} at applied {node.sm.applied} "
                f"misses acked commands {missing[:5]}"
            )
            self.stats.reads += 1
        node.read_states = waiting

    # ---- clients ----------------------------------------------------------------------
    def _propose(self, node: SimNode) -> None:
        assert node.core is not None
        rng = self.rng
        self.unacked = [c for c in self.unacked if c not in self.acked]
        if self.unacked and rng.random() < 0.3:
            cid = rng.choice(self.unacked)
        else:
            cid = self.next_cmd
            self.next_cmd += 1
            self.unacked.append(cid)
        if cid in node.sm.seen:  # the node's dedup table answers a retry at once
            self._ack(cid)
            return
        if node.core.propose(b"c%d" % cid):
            self.proposed_to.setdefault(cid, []).append(node.id)
            self._log(f"propose c{cid} at {node.id}")

    def _read(self, node: SimNode) -> None:
        assert node.core is not None
        ctx = b"r%d" % self.next_ctx
        self.next_ctx += 1
        node.reads[ctx] = len(self.ack_order)
        node.core.read_index(ctx)

    # ---- invariants -----------------------------------------------------------------
    def _check_step(self) -> None:
        for node in self.nodes.values():
            core = node.core
            if core is None:
                continue
            if core.role is Role.LEADER:
                self._check_leader(node, core)
            commit = core.commit_index
            if commit < node.commit_seen:
                raise AssertionError(f"{node.id} commit went back from {node.commit_seen} to {commit}")
            if commit > node.commit_seen:
                node.commit_seen = commit
                self._record_commit(node, core, commit)

    def _check_leader(self, node: SimNode, core: RaftCore) -> None:
        term = core.term
        other = self.leader_of_term.setdefault(term, node.id)
        assert other == node.id, f"election safety: {other} and {node.id} both lead term {term}"
        self._check_matches(node, core)
        if term in node.led_terms:
            return
        node.led_terms.add(term)
        self.stats.leaders += 1
        self._log(f"{node.id} leads term {term}")
        best = max((v for t, v in self.committed_by_term.items() if t < term), default=None)
        if best is not None:
            self._check_holds(core, *best, why=f"new leader {node.id} of term {term}")

    def _check_matches(self, node: SimNode, core: RaftCore) -> None:
        """A follower's acked `match` must name an entry the leader and follower share."""
        for peer in core.peers:
            pr = core.progress(peer)
            other = self.nodes[peer].core
            if pr is None or not pr.match or other is None or other.term != core.term:
                continue
            theirs, ours = other.log_term(pr.match), core.log_term(pr.match)
            if theirs is None or ours is None:
                continue  # compacted on one side (committed, covered by a snapshot)
            assert theirs == ours, (
                f"{node.id} believes {peer} matches up to {pr.match}, but terms there are "
                f"{ours} (leader) and {theirs} ({peer})"
            )

    def _check_holds(self, core: RaftCore, index: int, entry_term: int, why: str) -> None:
        """Leader completeness: `core`'s log holds the committed entry (index, entry_term)."""
        if index < core.first_index - 1:
            return  # compacted: covered by a snapshot of committed state
        have = core.log_term(index)
        assert have == entry_term, (
            f"leader completeness: {why} has term {have} at {index}, committed term {entry_term}"
        )

    def _record_commit(self, node: SimNode, core: RaftCore, index: int) -> None:
        entry_term = core.log_term(index)
        assert entry_term is not None
        self._check_applied(index, entry_term, None)
        term = core.term
        best = self.committed_by_term.get(term)
        if best is None or best < (index, entry_term):
            self.committed_by_term[term] = (index, entry_term)
        for other in self.nodes.values():
            oc = other.core
            if oc is not None and oc.role is Role.LEADER and oc.term > term:
                self._check_holds(oc, index, entry_term, why=f"leader {other.id} of term {oc.term}")

    def _check_applied(self, index: int, term: int, data: bytes | None) -> None:
        """State machine safety: an index is committed with one term and applied with one data."""
        known_term = self.committed_at.setdefault(index, term)
        assert known_term == term, (
            f"state machine safety: index {index} committed/applied with term {known_term} and {term}"
        )
        if data is not None:
            known = self.applied_at.setdefault(index, data)
            assert known == data, f"state machine safety: index {index} applied as {known!r} and {data!r}"

    def _check_ready(self, node: SimNode, rd: Ready) -> None:
        """Log matching: an (index, term) pair always names the same data and predecessor."""
        core = node.core
        assert core is not None
        if rd.entries:
            prev_term = core.log_term(rd.entries[0].index - 1)
            assert prev_term is not None, f"{node.id} Ready entries start after an unknown entry"
            for e in rd.entries:
                key = (e.index, e.term)
                value = (e.data, prev_term)
                known = self.log_entries.setdefault(key, value)
                assert known == value, f"log matching: {key} is {known} and {value}"
                prev_term = e.term
        for m in rd.messages:
            if m.frm != node.id:
                raise AssertionError(f"{node.id} sends a message from {m.frm}")

    # ---- end of run -------------------------------------------------------------------
    def _finish(self) -> None:
        self.step_no = self.params.steps + 1
        self._log("finish: heal everything")
        self.blocked.clear()
        self.drop = self.dup = 0.0
        for node in self.nodes.values():
            if node.core is None:
                self._start(node)
        leader = self._wait_for_leader()
        cid = self.next_cmd
        self.next_cmd += 1
        self.proposed_to[cid] = [n.id for n in self.nodes.values()]
        for i in range(COMMIT_ROUNDS):
            if i % 10 == 0:  # a client retries (same id) in case leadership changed meanwhile
                leader = self._stable_leader() or leader
                assert leader.core is not None
                leader.core.propose(b"c%d" % cid)
            self._round()
            if all(cid in n.sm.seen for n in self.nodes.values()):
                break
        else:
            raise AssertionError(f"liveness: fresh command c{cid} not applied everywhere")
        self._check_final()

    def _wait_for_leader(self) -> SimNode:
        for _ in range(LEADER_ROUNDS):
            self._round()
            leader = self._stable_leader()
            if leader is not None:
                return leader
        raise AssertionError("liveness: no stable leader after healing")

    def _stable_leader(self) -> SimNode | None:
        leaders = [n for n in self.nodes.values() if n.core is not None and n.core.role is Role.LEADER]
        if len(leaders) != 1:
            return None
        lc = leaders[0].core
        assert lc is not None
        for n in self.nodes.values():
            assert n.core is not None
            if n.core.term != lc.term or n.core.leader != leaders[0].id:
                return None
        return leaders[0]

    def _round(self) -> None:
        """Tick every node once, then deliver and process everything until quiet."""
        for node in self.nodes.values():
            self._tick(node)
            self._check_step()
        backlog = max(n.core.last_index for n in self.nodes.values() if n.core is not None)
        for _ in range(DRAIN_LIMIT + DRAIN_PER_ENTRY * backlog):
            progressed = False
            for node in self.nodes.values():
                if node.held is not None or (node.core is not None and node.core.has_ready()):
                    self._ready_step(node)
                    progressed = True
                    self._check_step()
            if self.net:
                self._deliver_one(fifo=True)
                progressed = True
                self._check_step()
            if not progressed:
                return
        raise AssertionError("liveness: the cluster never goes quiet")

    def _check_final(self) -> None:
        sms = [n.sm for n in self.nodes.values()]
        first = sms[0]
        for node in self.nodes.values():
            sm = node.sm
            assert len(set(sm.commands)) == len(sm.commands), f"{node.id} applied a command twice"
            missing = self.acked - sm.seen
            assert not missing, f"{node.id} lacks acknowledged commands {sorted(missing)[:5]}"
            assert sm.commands == first.commands, f"state machines differ: {node.id} vs {self.ids[0]}"


def _fmt(m: Message) -> str:
    parts = [f"{m.type.name} {m.frm}->{m.to} t{m.term}"]
    if m.index or m.log_term:
        parts.append(f"i{m.index}/t{m.log_term}")
    if m.entries:
        parts.append(f"ents[{m.entries[0].index}..{m.entries[-1].index}]")
    if m.commit:
        parts.append(f"c{m.commit}")
    if m.reject:
        parts.append(f"REJECT hint {m.reject_hint}")
    if m.snapshot is not None:
        parts.append(f"snap {m.snapshot.meta}")
    if m.context:
        parts.append(f"ctx {m.context!r}")
    return " ".join(parts)


def run_seeds(seeds: range | list[int], nodes: int, params: SimParams | None = None) -> list[SimStats]:
    """Run each seed; the first failure raises `SimFailure` (an AssertionError)."""
    return [Simulation(seed, nodes, params).run() for seed in seeds]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--count", type=int, default=1, help="number of consecutive seeds")
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--steps", type=int, default=SimParams().steps)
    parser.add_argument("--trace", action="store_true", help="print the last events on failure")
    args = parser.parse_args(argv)
    params = SimParams(steps=args.steps)
    total = SimStats()
    for seed in range(args.seed, args.seed + args.count):
        try:
            stats = Simulation(seed, args.nodes, params, trace=args.trace).run()
        except SimFailure as exc:
            print(exc, file=sys.stderr)
            return 1
        for name in SimStats.__slots__:
            setattr(total, name, getattr(total, name) + getattr(stats, name))
    print(f"ok: {args.count} seed(s) from {args.seed}, {args.nodes} nodes: {total}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
