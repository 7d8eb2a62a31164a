"""Leader-side bookkeeping for the Raft core: per-follower replication progress and
pending ReadIndex requests (etcd's `tracker.Progress` and `readOnly`, trimmed down).

Pure data structures: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field


class ProgressState(enum.Enum):
    PROBE = "probe"  # one APP at a time until the follower's match is known
    REPLICATE = "replicate"  # optimistic pipelining, bounded by the inflight window
    SNAPSHOT = "snapshot"  # waiting for a snapshot to be built, sent and acknowledged


class Inflights:
    """The last index of each APP sent to a follower in REPLICATE state and not yet acked."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._q: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._q)

    @property
    def full(self) -> bool:
        return len(self._q) >= self.capacity

    def add(self, last_index: int) -> None:
        self._q.append(last_index)

    def free_le(self, index: int) -> None:
        """An ack up to `index` frees every message that ended at or before it."""
        while self._q and self._q[0] <= index:
            self._q.popleft()

    def free_first_one(self) -> None:
        if self._q:
            self._q.popleft()

    def reset(self) -> None:
        self._q.clear()


@dataclass(slots=True)
class Progress:
    """What the leader knows about one follower's log."""

    next: int
    max_inflight: int
    match: int = 0
    state: ProgressState = ProgressState.PROBE
    probe_sent: bool = False  # PROBE: an APP is in flight, wait for its answer (or a heartbeat)
    pending_snapshot: int = 0  # SNAPSHOT: index of the snapshot sent, 0 while still requested
    snapshot_elapsed: int = 0  # SNAPSHOT: leader ticks since the snapshot was requested
    recent_active: bool = False  # heard from the follower since the last quorum check
    inflights: Inflights = field(init=False)

    def __post_init__(self) -> None:
        self.inflights = Inflights(self.max_inflight)

    # ---- state transitions ----------------------------------------------------------
    def _reset_state(self, state: ProgressState) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_elapsed = 0
        self.inflights.reset()

    def become_probe(self) -> None:
        """After a snapshot, continue right after it (or after `match` if that is further)."""
        if self.state is ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self) -> None:
        self._reset_state(ProgressState.SNAPSHOT)

    # ---- events -----------------------------------------------------------------------
    def is_paused(self) -> bool:
        """Whether the leader must not send another APP now."""
        if self.state is ProgressState.PROBE:
            return self.probe_sent
        if self.state is ProgressState.REPLICATE:
            return self.inflights.full
        return True

    def sent_entries(self, last_index: int | None) -> None:
        """Record an APP just sent; `last_index` is its last entry's index (None if empty)."""
        if self.state is ProgressState.REPLICATE:
            if last_index is not None:
                self.next = last_index + 1
                self.inflights.add(last_index)
        elif self.state is ProgressState.PROBE:
            self.probe_sent = True

    def maybe_update(self, index: int) -> bool:
        """A successful ack up to `index`. Returns True if `match` moved forward."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.probe_sent = False
        self.next = max(self.next, index + 1)
        return updated

    def maybe_decr_to(self, rejected: int, hint: int) -> bool:
        """A rejection of the APP whose prev index was `rejected`; `hint` is the follower's
        last index. Returns False when the rejection is stale (out of order or duplicated)."""
        if self.state is ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, hint + 1), self.match + 1)
        self.probe_sent = False
        return True


@dataclass(slots=True)
class ReadRequest:
    index: int  # the leader's commit index when the request arrived
    context: bytes
    requester: str | None  # None: the leader's own read_index() call
    acks: set[str] = field(default_factory=set)


class ReadOnly:
    """ReadIndex requests awaiting a heartbeat quorum (etcd ReadOnlySafe), in arrival order."""

    def __init__(self) -> None:
        self._pending: dict[bytes, ReadRequest] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, index: int, context: bytes, requester: str | None, self_id: str) -> bool:
        """Queue a request; a context already pending is dropped (the caller retries)."""
        if context in self._pending:
            return False
        self._pending[context] = ReadRequest(index, context, requester, {self_id})
        return True

    def recv_ack(self, frm: str, context: bytes) -> int:
        """Count a heartbeat answer echoing `context`; returns the number of acks (0 if unknown)."""
        req = self._pending.get(context)
        if req is None:
            return 0
        req.acks.add(frm)
        return len(req.acks)

    def advance(self, context: bytes) -> list[ReadRequest]:
        """Release the request for `context` and every request queued before it: the quorum
        that confirmed leadership for it also confirms it for the earlier ones."""
        if context not in self._pending:
            return []
        released: list[ReadRequest] = []
        for ctx in list(self._pending):
            released.append(self._pending.pop(ctx))
            if ctx == context:
                break
        return released

    def last_context(self) -> bytes:
        """The newest pending context, piggybacked on regular heartbeats (b"" if none)."""
        if not self._pending:
            return b""
        return next(reversed(self._pending))
