"""The pure, deterministic Raft state machine (etcd raft style).

No I/O, no clock, no threads. Inputs: `tick()`, `step(msg)`, `propose(data)`,
`read_index(ctx)`, `send_snapshot(peer, snap)`, `compact(index)`. Output: `ready()`
returns a `Ready` (see types.py for the order the shell must follow), and the shell
calls `advance(ready)` once it has done what the Ready asked.

Randomness (election timeouts) comes from a `random.Random` passed in, so a seed
replays exactly.

Conventions beyond types.py:

* At most one Ready is outstanding: `has_ready()` is False and `ready()` raises until
  the previous Ready has been advanced. Inputs may keep arriving meanwhile.
* Leader replication is lazy: proposals, acks and commit changes only mark followers;
  the APP messages are built in `ready()`, so everything proposed between two `ready()`
  calls leaves in one batch (one persist, one APP per follower).
* PROP and READ_INDEX are forwarded with term 0 (they are treated as local requests,
  as in etcd). A non-leader drops them.
* A follower left in SNAPSHOT state (snapshot never built, lost or never acked) is
  probed again after `SNAPSHOT_RETRY_ELECTIONS` election timeouts.
* `Ready.snapshot` replaces the whole log: the shell discards every stored entry (as
  etcd's MemoryStorage.ApplySnapshot does), not only those up to the snapshot index.
* `compact(index)` is clamped to the applied index the core knows, which moves at
  `advance()`: compact after advancing the Ready whose entries were applied.
"""

from __future__ import annotations

import enum
import random

from .progress import Progress, ProgressState, ReadOnly, ReadRequest
from .types import (
    Entry,
    HardState,
    Message,
    MsgType,
    RaftConfig,
    ReadState,
    Ready,
    RestoredState,
    Role,
    Snapshot,
    SoftState,
)

SNAPSHOT_RETRY_ELECTIONS = 3

_LOCAL_TYPES = (MsgType.PROP, MsgType.READ_INDEX)
_LEADER_TYPES = (MsgType.APP, MsgType.HEARTBEAT, MsgType.SNAP)


class _Vote(enum.Enum):
    PENDING = 0
    WON = 1
    LOST = 2


class RaftLog:
    """The in-memory log: a compaction point `(offset, offset_term)`, then `entries`.

    `stable_last` is the last index the shell has persisted (known at `advance`),
    `unstable_from` the first index not yet handed out in a Ready, `applied` the
    last index the shell has applied (also known at `advance`).
    """

    def __init__(self, restored: RestoredState) -> None:
        meta = restored.snapshot_meta
        self.offset = meta.index
        self.offset_term = meta.term
        self.entries: list[Entry] = list(restored.entries)
        for i, e in enumerate(self.entries):
            if e.index != self.offset + 1 + i:
                raise ValueError(f"restored entries not contiguous after {self.offset}: {e.index}")
        self.applied = max(restored.applied, meta.index)
        self.committed = max(restored.hard_state.commit, self.applied)
        if self.committed > self.last_index:
            raise ValueError(f"restored commit {self.committed} beyond last index {self.last_index}")
        self.stable_last = self.last_index
        self.unstable_from = self.last_index + 1
        self.pending_snapshot: Snapshot | None = None

    @property
    def last_index(self) -> int:
        return self.offset + len(self.entries)

    @property
    def last_term(self) -> int:
        return self.entries[-1].term if self.entries else self.offset_term

    def term(self, index: int) -> int | None:
        """The term of the entry at `index`, or None if compacted away or beyond the end."""
        if index == self.offset:
            return self.offset_term
        if self.offset < index <= self.last_index:
            return self.entries[index - self.offset - 1].term
        return None

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries lo..hi inclusive (clamped to what is in memory)."""
        lo = max(lo, self.offset + 1)
        hi = min(hi, self.last_index)
        if lo > hi:
            return []
        return self.entries[lo - self.offset - 1 : hi - self.offset]

    def is_up_to_date(self, index: int, term: int) -> bool:
        """Raft's election restriction: is a log ending at (index, term) at least as new?"""
        last_term = self.last_term
        return term > last_term or (term == last_term and index >= self.last_index)

    def find_conflict(self, entries: list[Entry]) -> int:
        """Index of the first entry that is new or whose term differs; 0 if all match."""
        for e in entries:
            if self.term(e.index) != e.term:
                return e.index
        return 0

    def append(self, entries: list[Entry]) -> None:
        """Append, truncating any existing entries from `entries[0].index` on."""
        first = entries[0].index
        if first <= self.committed:
            raise AssertionError(f"truncating committed entry {first} (commit {self.committed})")
        del self.entries[first - self.offset - 1 :]
        self.entries.extend(entries)
        self.unstable_from = min(self.unstable_from, first)
        self.stable_last = min(self.stable_last, first - 1)

    def maybe_append(self, prev_index: int, prev_term: int, commit: int, entries: list[Entry]) -> int | None:
        """A leader's APP. Returns the last index now matching the leader, or None on mismatch.

        Existing entries are truncated only from the first one whose term conflicts, so a
        stale or duplicated APP never removes anything.
        """
        if self.term(prev_index) != prev_term:
            return None
        last_new = prev_index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            self.append(entries[conflict - prev_index - 1 :])
        self.commit_to(min(commit, last_new))
        return last_new

    def commit_to(self, index: int) -> None:
        if index > self.committed:
            self.committed = min(index, self.last_index)

    def restore(self, snapshot: Snapshot) -> None:
        """Replace the whole log by `snapshot`; the log restarts after its index."""
        self.offset = snapshot.meta.index
        self.offset_term = snapshot.meta.term
        self.entries = []
        self.committed = snapshot.meta.index
        self.unstable_from = self.offset + 1
        self.stable_last = min(self.stable_last, self.offset)
        self.pending_snapshot = snapshot

    def compact(self, index: int) -> None:
        """Drop entries up to `index`, keeping its (index, term) as the new offset."""
        if index <= self.offset or index > self.last_index:
            return
        term = self.term(index)
        assert term is not None
        del self.entries[: index - self.offset]
        self.offset = index
        self.offset_term = term

    def take_unstable(self) -> list[Entry]:
        """Entries the shell has not been given yet; they now count as handed out."""
        entries = self.slice(self.unstable_from, self.last_index)
        self.unstable_from = self.last_index + 1
        return entries

    def has_unstable(self) -> bool:
        return self.unstable_from <= self.last_index

    def next_committed(self) -> list[Entry]:
        """Committed entries not applied yet (entries covered by a snapshot are skipped)."""
        return self.slice(max(self.applied, self.offset) + 1, self.committed)

    def has_next_committed(self) -> bool:
        return self.committed > max(self.applied, self.offset)

    def stable_to(self, index: int, term: int) -> None:
        """The shell persisted entries up to (index, term), unless the log changed since."""
        if index > self.stable_last and self.term(index) == term:
            self.stable_last = index


class RaftCore:
    """One member's Raft state machine: elections (pre-vote, check-quorum lease), log
    replication (probe/replicate/snapshot progress, pipelining, batching), commitment,
    snapshots and ReadIndex reads. Drive it with the inputs below and `ready`/`advance`.
    """

    def __init__(
        self,
        node_id: str,
        peers: list[str],
        config: RaftConfig,
        restored: RestoredState,
        rng: random.Random,
    ) -> None:
        """`peers` are the other members. Membership is static."""
        self.id = node_id
        self.peers = [p for p in dict.fromkeys(peers) if p != node_id]
        self._peer_set = frozenset(self.peers)
        self.config = config
        self._rng = rng
        self._quorum = (len(self.peers) + 1) // 2 + 1
        self._log = RaftLog(restored)
        self._term = restored.hard_state.term
        self._vote = restored.hard_state.vote
        self._lead: str | None = None
        self._role = Role.FOLLOWER
        self._votes: dict[str, bool] = {}
        self._prs: dict[str, Progress] = {}
        self._read_only = ReadOnly()
        self._deferred_reads: list[tuple[bytes, str | None]] = []
        self._pending_append: dict[str, bool] = {}  # peer -> send even if empty
        self._msgs: list[Message] = []
        self._fwd: Message | None = None  # the PROP being batched for the leader
        self._read_states: list[ReadState] = []
        self._snapshot_requests: list[str] = []
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._randomized_timeout = 0
        self._reset_randomized_timeout()
        self._prev_soft = SoftState(None, Role.FOLLOWER)
        self._prev_hard = restored.hard_state
        self._outstanding = False

    # ---- inputs -------------------------------------------------------------------
    def tick(self) -> None:
        """One logical clock tick (election and heartbeat timers)."""
        if self._role is Role.LEADER:
            self._tick_leader()
        else:
            self._tick_election()

    def step(self, msg: Message) -> None:
        """Feed one message received from a peer. Stale or malformed messages are ignored."""
        if msg.to != self.id or msg.frm not in self._peer_set:
            return
        if msg.type in _LOCAL_TYPES:
            self._step_forwarded(msg)
            return
        if not self._check_term(msg):
            return
        if msg.type in (MsgType.VOTE, MsgType.PRE_VOTE):
            self._handle_vote_request(msg)
        elif self._role is Role.LEADER:
            self._step_leader(msg)
        elif self._role is Role.FOLLOWER:
            self._step_follower(msg)
        else:
            self._step_candidate(msg)

    def propose(self, data: bytes) -> bool:
        """Append `data` (non-empty) on the leader, or forward it to the known leader.

        Returns False when no leader is known (the caller should retry later).
        Acceptance is not commitment: the shell learns the outcome only by applying.
        """
        if not data:
            raise ValueError("proposal data must be non-empty (b'' is the leader's no-op)")
        if self._role is Role.LEADER:
            self._leader_append([data])
            return True
        if self._lead is None:
            return False
        entry = Entry(term=0, index=0, data=data)
        if self._fwd is not None and self._fwd.to == self._lead:
            self._fwd.entries.append(entry)
        else:
            self._fwd = Message(MsgType.PROP, frm=self.id, to=self._lead, entries=[entry])
            self._msgs.append(self._fwd)
        return True

    def read_index(self, ctx: bytes) -> None:
        """Request a linearizable read point; the answer is a ReadState with this ctx in a
        later Ready. Requests that cannot be served (no leader, leadership lost) are dropped:
        the caller times out and retries."""
        if self._role is Role.LEADER:
            self._leader_read(ctx, None)
        elif self._lead is not None:
            self._msgs.append(Message(MsgType.READ_INDEX, frm=self.id, to=self._lead, context=ctx))

    def send_snapshot(self, peer: str, snapshot: Snapshot) -> None:
        """Answer a `snapshot_requests` entry with a state-machine image."""
        pr = self._prs.get(peer) if self._role is Role.LEADER else None
        if pr is None or pr.state is not ProgressState.SNAPSHOT or pr.pending_snapshot:
            return
        if not self._log.offset <= snapshot.meta.index <= self._log.committed:
            return
        pr.pending_snapshot = snapshot.meta.index
        self._send(MsgType.SNAP, peer, snapshot=snapshot)

    def compact(self, index: int) -> None:
        """The state machine durably covers `index` (<= applied); drop log entries up to it."""
        self._log.compact(min(index, self._log.applied))

    # ---- output -------------------------------------------------------------------
    def has_ready(self) -> bool:
        if self._outstanding:
            return False
        log = self._log
        return bool(
            self._msgs
            or self._pending_append
            or log.has_unstable()
            or log.has_next_committed()
            or log.pending_snapshot is not None
            or self._read_states
            or self._snapshot_requests
            or self._prev_soft.leader != self._lead
            or self._prev_soft.role is not self._role
            or self._prev_hard.term != self._term
            or self._prev_hard.vote != self._vote
            or self._prev_hard.commit != log.committed
        )

    def ready(self) -> Ready:
        if self._outstanding:
            raise RuntimeError("ready() called before advance() of the previous Ready")
        self._flush_appends()
        rd = Ready()
        soft = SoftState(self._lead, self._role)
        if soft != self._prev_soft:
            rd.soft_state = self._prev_soft = soft
        persisted_term = self._prev_hard.term  # every earlier Ready was persisted before advance
        hard = self._hard_state()
        if hard != self._prev_hard:
            rd.hard_state = self._prev_hard = hard
        rd.snapshot, self._log.pending_snapshot = self._log.pending_snapshot, None
        rd.entries = self._log.take_unstable()
        rd.committed_entries = self._log.next_committed()
        msgs, self._msgs, self._fwd = self._msgs, [], None
        early = [m for m in msgs if m.type in _LEADER_TYPES and m.term == persisted_term]
        if early:
            rest = [m for m in msgs if not (m.type in _LEADER_TYPES and m.term == persisted_term)]
            msgs = early + rest
        rd.messages, rd.early = msgs, len(early)
        rd.read_states, self._read_states = self._read_states, []
        rd.snapshot_requests, self._snapshot_requests = self._snapshot_requests, []
        self._outstanding = True
        return rd

    def advance(self, ready: Ready) -> None:
        if not self._outstanding:
            raise RuntimeError("advance() without an outstanding Ready")
        self._outstanding = False
        log = self._log
        if ready.snapshot is not None:
            meta = ready.snapshot.meta
            log.applied = max(log.applied, meta.index)
            log.stable_to(meta.index, meta.term)
        if ready.entries:
            last = ready.entries[-1]
            log.stable_to(last.index, last.term)
        if ready.committed_entries:
            log.applied = max(log.applied, ready.committed_entries[-1].index)
        if self._role is Role.LEADER and self._maybe_commit():
            self._on_commit_advanced()

    # ---- observation --------------------------------------------------------------
    @property
    def role(self) -> Role:
        return self._role

    @property
    def leader(self) -> str | None:
        return self._lead

    @property
    def term(self) -> int:
        return self._term

    @property
    def commit_index(self) -> int:
        return self._log.committed

    @property
    def applied_index(self) -> int:
        return self._log.applied

    @property
    def last_index(self) -> int:
        return self._log.last_index

    @property
    def vote(self) -> str | None:
        return self._vote

    @property
    def first_index(self) -> int:
        """The first index still held in memory (compaction point + 1)."""
        return self._log.offset + 1

    def log_term(self, index: int) -> int | None:
        """The term of the entry at `index` (None if compacted or beyond the end)."""
        return self._log.term(index)

    def progress(self, peer: str) -> Progress | None:
        """The leader's replication progress for `peer` (None when not leader)."""
        return self._prs.get(peer)

    # ---- state changes ----------------------------------------------------------------
    def _hard_state(self) -> HardState:
        return HardState(self._term, self._vote, self._log.committed)

    def _reset_randomized_timeout(self) -> None:
        n = self.config.election_ticks
        self._randomized_timeout = n + self._rng.randrange(n)

    def _reset(self, term: int) -> None:
        """Clear everything tied to the current role; a new term also clears the vote."""
        if term != self._term:
            self._term = term
            self._vote = None
        self._lead = None
        self._election_elapsed = 0
        self._heartbeat_elapsed = 0
        self._reset_randomized_timeout()
        self._votes = {}
        self._prs = {}
        self._read_only = ReadOnly()
        self._deferred_reads = []
        self._pending_append = {}
        self._snapshot_requests = []
        self._fwd = None

    def _become_follower(self, term: int, lead: str | None) -> None:
        self._reset(term)
        self._lead = lead
        self._role = Role.FOLLOWER

    def _become_pre_candidate(self) -> None:
        """Pre-vote phase: neither the term nor the vote changes."""
        self._reset(self._term)
        self._role = Role.PRE_CANDIDATE

    def _become_candidate(self) -> None:
        self._reset(self._term + 1)
        self._vote = self.id
        self._role = Role.CANDIDATE

    def _become_leader(self) -> None:
        self._reset(self._term)
        self._lead = self.id
        self._role = Role.LEADER
        nxt = self._log.last_index + 1
        self._prs = {p: Progress(next=nxt, max_inflight=self.config.max_inflight_msgs) for p in self.peers}
        self._leader_append([b""])

    # ---- timers -----------------------------------------------------------------------
    def _tick_election(self) -> None:
        self._election_elapsed += 1
        if self._election_elapsed >= self._randomized_timeout:
            self._election_elapsed = 0
            self._campaign(pre=self.config.pre_vote)

    def _tick_leader(self) -> None:
        self._heartbeat_elapsed += 1
        self._election_elapsed += 1
        if self._election_elapsed >= self.config.election_ticks:
            self._election_elapsed = 0
            if self.config.check_quorum and not self._quorum_active():
                self._become_follower(self._term, None)
                return
        self._tick_snapshots()
        if self._heartbeat_elapsed >= self.config.heartbeat_ticks:
            self._heartbeat_elapsed = 0
            self._bcast_heartbeat()

    def _quorum_active(self) -> bool:
        """Did a quorum (counting this leader) answer since the last check? Resets the marks."""
        active = 1 + sum(pr.recent_active for pr in self._prs.values())
        for pr in self._prs.values():
            pr.recent_active = False
        return active >= self._quorum

    def _tick_snapshots(self) -> None:
        limit = SNAPSHOT_RETRY_ELECTIONS * self.config.election_ticks
        for peer, pr in self._prs.items():
            if pr.state is ProgressState.SNAPSHOT:
                pr.snapshot_elapsed += 1
                if pr.snapshot_elapsed >= limit:
                    pr.become_probe()
                    self._mark_append(peer, True)

    # ---- elections ----------------------------------------------------------------------
    def _in_lease(self) -> bool:
        """check_quorum leader lease: we heard from a leader within the election timeout."""
        return (
            self.config.check_quorum
            and self._lead is not None
            and self._election_elapsed < self.config.election_ticks
        )

    def _campaign(self, pre: bool) -> None:
        if pre:
            self._become_pre_candidate()
            vote_type, vote_term = MsgType.PRE_VOTE, self._term + 1
        else:
            self._become_candidate()
            vote_type, vote_term = MsgType.VOTE, self._term
        if self._poll(self.id, True) is _Vote.WON:
            self._on_election_won(pre)
            return
        for peer in self.peers:
            self._send(
                vote_type,
                peer,
                term=vote_term,
                index=self._log.last_index,
                log_term=self._log.last_term,
            )

    def _poll(self, voter: str, granted: bool) -> _Vote:
        self._votes.setdefault(voter, granted)
        yes = sum(self._votes.values())
        if yes >= self._quorum:
            return _Vote.WON
        if len(self._votes) - yes > len(self.peers) + 1 - self._quorum:
            return _Vote.LOST
        return _Vote.PENDING

    def _on_election_won(self, pre: bool) -> None:
        if pre:
            self._campaign(pre=False)
        else:
            self._become_leader()

    def _handle_vote_request(self, msg: Message) -> None:
        """Grant at most one vote per term, only to an up-to-date log (etcd semantics)."""
        resp = MsgType.PRE_VOTE_RESP if msg.type is MsgType.PRE_VOTE else MsgType.VOTE_RESP
        can_vote = (
            self._vote == msg.frm
            or (self._vote is None and self._lead is None)
            or (msg.type is MsgType.PRE_VOTE and msg.term > self._term)
        )
        if can_vote and self._log.is_up_to_date(msg.index, msg.log_term):
            self._send(resp, msg.frm, term=msg.term)
            if msg.type is MsgType.VOTE:
                self._election_elapsed = 0
                self._vote = msg.frm
        else:
            self._send(resp, msg.frm, reject=True)

    def _handle_vote_response(self, msg: Message) -> None:
        pre = self._role is Role.PRE_CANDIDATE
        expected = MsgType.PRE_VOTE_RESP if pre else MsgType.VOTE_RESP
        if msg.type is not expected:
            return
        # A granted pre-vote carries the term we asked about; anything else our own term.
        asked = self._term + 1 if pre and not msg.reject else self._term
        if msg.term != asked:
            return
        result = self._poll(msg.frm, not msg.reject)
        if result is _Vote.WON:
            self._on_election_won(pre)
        elif result is _Vote.LOST:
            self._become_follower(self._term, None)

    # ---- message dispatch ------------------------------------------------------------
    def _check_term(self, msg: Message) -> bool:
        """Apply the term rules; returns False when the message must not be processed further."""
        if msg.term > self._term:
            if msg.type in (MsgType.VOTE, MsgType.PRE_VOTE) and self._in_lease():
                return False
            if msg.type is MsgType.PRE_VOTE or (msg.type is MsgType.PRE_VOTE_RESP and not msg.reject):
                return True
            self._become_follower(msg.term, msg.frm if msg.type in _LEADER_TYPES else None)
            return True
        if msg.term < self._term:
            if msg.type in (MsgType.APP, MsgType.HEARTBEAT) and (
                self.config.check_quorum or self.config.pre_vote
            ):
                # Tell a stale leader about the newer term so that it steps down.
                self._send(MsgType.APP_RESP, msg.frm)
            elif msg.type is MsgType.PRE_VOTE:
                self._send(MsgType.PRE_VOTE_RESP, msg.frm, reject=True)
            return False
        return True

    def _step_forwarded(self, msg: Message) -> None:
        """PROP / READ_INDEX from a follower; only a leader serves them."""
        if self._role is not Role.LEADER:
            return
        if msg.type is MsgType.PROP:
            data = [e.data for e in msg.entries if e.data]
            if data:
                self._leader_append(data)
        else:
            self._leader_read(msg.context, msg.frm)

    def _step_follower(self, msg: Message) -> None:
        if msg.type in _LEADER_TYPES:
            self._election_elapsed = 0
            self._lead = msg.frm
            self._handle_from_leader(msg)
        elif msg.type is MsgType.READ_INDEX_RESP and not msg.reject:
            self._read_states.append(ReadState(msg.index, msg.context))

    def _step_candidate(self, msg: Message) -> None:
        if msg.type in _LEADER_TYPES:
            self._become_follower(self._term, msg.frm)
            self._handle_from_leader(msg)
        else:
            self._handle_vote_response(msg)

    def _handle_from_leader(self, msg: Message) -> None:
        if msg.type is MsgType.APP:
            self._handle_append(msg)
        elif msg.type is MsgType.HEARTBEAT:
            self._log.commit_to(msg.commit)
            self._send(MsgType.HEARTBEAT_RESP, msg.frm, context=msg.context)
        else:
            self._handle_snapshot(msg)

    def _step_leader(self, msg: Message) -> None:
        if msg.type is MsgType.APP_RESP:
            self._handle_append_response(msg)
        elif msg.type is MsgType.HEARTBEAT_RESP:
            self._handle_heartbeat_response(msg)

    # ---- follower side ----------------------------------------------------------------
    def _handle_append(self, msg: Message) -> None:
        if any(e.index != msg.index + 1 + i for i, e in enumerate(msg.entries)):
            return  # malformed
        log = self._log
        if msg.index < log.committed:
            self._send(MsgType.APP_RESP, msg.frm, index=log.committed)
            return
        last_new = log.maybe_append(msg.index, msg.log_term, msg.commit, msg.entries)
        if last_new is None:
            self._send(MsgType.APP_RESP, msg.frm, index=msg.index, reject=True, reject_hint=log.last_index)
        else:
            self._send(MsgType.APP_RESP, msg.frm, index=last_new)

    def _handle_snapshot(self, msg: Message) -> None:
        snap = msg.snapshot
        if snap is None:
            return
        log = self._log
        meta = snap.meta
        if meta.index > log.committed:
            if log.term(meta.index) == meta.term:
                log.commit_to(meta.index)  # we already hold it: just fast-forward the commit
            else:
                log.restore(snap)
        self._send(MsgType.APP_RESP, msg.frm, index=log.committed)

    # ---- leader side ------------------------------------------------------------------
    def _leader_append(self, datas: list[bytes]) -> None:
        first = self._log.last_index + 1
        self._log.append([Entry(self._term, first + i, d) for i, d in enumerate(datas)])
        for peer in self.peers:
            self._mark_append(peer, False)

    def _mark_append(self, peer: str, send_if_empty: bool) -> None:
        """Ask `ready()` to send `peer` an APP (possibly empty, to carry the commit index)."""
        if self._prs[peer].is_paused():
            return
        self._pending_append[peer] = self._pending_append.get(peer, False) or send_if_empty

    def _flush_appends(self) -> None:
        pending, self._pending_append = self._pending_append, {}
        if self._role is not Role.LEADER:
            return
        for peer, send_if_empty in pending.items():
            if self._send_append(peer, send_if_empty):
                while self._send_append(peer, False):
                    pass

    def _send_append(self, peer: str, send_if_empty: bool) -> bool:
        """Send one APP to `peer` if its progress allows; request a snapshot if needed."""
        pr = self._prs[peer]
        if pr.is_paused():
            return False
        log = self._log
        prev = pr.next - 1
        prev_term = log.term(prev)
        if prev_term is None:
            self._request_snapshot(peer, pr)
            return False
        entries = log.slice(pr.next, prev + self.config.max_entries_per_msg)
        if not entries and not send_if_empty:
            return False
        self._send(MsgType.APP, peer, index=prev, log_term=prev_term, entries=entries, commit=log.committed)
        pr.sent_entries(entries[-1].index if entries else None)
        return True

    def _request_snapshot(self, peer: str, pr: Progress) -> None:
        if not pr.recent_active:
            return  # not worth building a snapshot for a peer that may be down
        pr.become_snapshot()
        self._snapshot_requests.append(peer)

    def _handle_append_response(self, msg: Message) -> None:
        pr = self._prs[msg.frm]
        pr.recent_active = True
        if msg.reject:
            if pr.maybe_decr_to(msg.index, msg.reject_hint):
                if pr.state is ProgressState.REPLICATE:
                    pr.become_probe()
                self._mark_append(msg.frm, True)
            return
        if msg.index > self._log.last_index:
            return  # malformed
        if not pr.maybe_update(msg.index) and not (pr.state is ProgressState.PROBE and pr.match == msg.index):
            return
        if pr.state is ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state is ProgressState.SNAPSHOT and pr.match >= self._log.offset:
            pr.become_probe()
            pr.become_replicate()
        else:
            pr.inflights.free_le(msg.index)
        if self._maybe_commit():
            self._on_commit_advanced()
        self._mark_append(msg.frm, False)

    def _handle_heartbeat_response(self, msg: Message) -> None:
        pr = self._prs[msg.frm]
        pr.recent_active = True
        pr.probe_sent = False
        if pr.state is ProgressState.REPLICATE and pr.inflights.full:
            pr.inflights.free_first_one()
        if pr.match < self._log.last_index or pr.state is ProgressState.PROBE:
            self._mark_append(msg.frm, True)
        if not msg.context:
            return
        if self._read_only.recv_ack(msg.frm, msg.context) >= self._quorum:
            for req in self._read_only.advance(msg.context):
                self._answer_read(req)

    def _maybe_commit(self) -> bool:
        """Commit the highest index a quorum has persisted, if it is from this term (Figure 8).

        The leader counts its own log only up to what the shell has persisted."""
        matches = sorted([self._log.stable_last, *(pr.match for pr in self._prs.values())], reverse=True)
        index = matches[self._quorum - 1]
        if index > self._log.committed and self._log.term(index) == self._term:
            self._log.commit_to(index)
            return True
        return False

    def _on_commit_advanced(self) -> None:
        for peer in self.peers:
            self._mark_append(peer, True)
        if self._deferred_reads and self._committed_in_term():
            deferred, self._deferred_reads = self._deferred_reads, []
            for ctx, requester in deferred:
                self._leader_read(ctx, requester)

    def _bcast_heartbeat(self, ctx: bytes | None = None) -> None:
        if ctx is None:
            ctx = self._read_only.last_context()
        for peer, pr in self._prs.items():
            commit = min(pr.match, self._log.committed)
            self._send(MsgType.HEARTBEAT, peer, commit=commit, context=ctx)

    # ---- ReadIndex ----------------------------------------------------------------------
    def _committed_in_term(self) -> bool:
        return self._log.term(self._log.committed) == self._term

    def _leader_read(self, ctx: bytes, requester: str | None) -> None:
        """ReadOnlySafe: the read index is the commit index once a heartbeat quorum confirms
        leadership. Until this term has committed an entry, the commit index may be stale,
        so requests wait for that first."""
        if not self._committed_in_term():
            self._deferred_reads.append((ctx, requester))
            return
        index = self._log.committed
        if not self.peers:
            self._answer_read(ReadRequest(index, ctx, requester))
        elif self._read_only.add(index, ctx, requester, self.id):
            self._bcast_heartbeat(ctx)

    def _answer_read(self, req: ReadRequest) -> None:
        if req.requester is None:
            self._read_states.append(ReadState(req.index, req.context))
        else:
            self._send(MsgType.READ_INDEX_RESP, req.requester, index=req.index, context=req.context)

    # ---- sending --------------------------------------------------------------------------
    def _send(self, mtype: MsgType, to: str, **fields: object) -> None:
        """Queue a message; its term is ours unless given (vote messages set it explicitly)."""
        fields.setdefault("term", self._term)
        self._msgs.append(Message(mtype, self.id, to, **fields))  # type: ignore[arg-type]
