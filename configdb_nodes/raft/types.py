"""Value types shared by the pure Raft core, its persistence and its transport.

Nothing here does I/O. Every type is a plain dataclass so the core, the
deterministic simulator and the asyncio shell exchange the same objects.
Member ids are strings (the node shell uses each member's raft address).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Role(str, enum.Enum):  # noqa: UP042 - str(role) keeps printing the member
    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre_candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


class MsgType(enum.IntEnum):
    PRE_VOTE = 1  # term = the term the sender would campaign in; index/log_term = its last entry
    PRE_VOTE_RESP = 2  # reject: bool; term = the term asked about
    VOTE = 3
    VOTE_RESP = 4
    APP = 5  # index/log_term = entry preceding `entries`; commit = leader commit
    # reject=False: index = last index now matching;
    # reject=True: index = rejected prev, reject_hint = follower last index
    APP_RESP = 6
    HEARTBEAT = 7  # commit = min(leader commit, follower match); context = read-index ctx or b""
    HEARTBEAT_RESP = 8  # context echoed
    SNAP = 9  # snapshot = the full snapshot to install
    PROP = 10  # a follower forwarding proposals (entries with data only) to the leader
    READ_INDEX = 11  # a follower asking the leader for a read index; context = request ctx
    READ_INDEX_RESP = 12  # index = the read index; context = request ctx; reject=True if refused


@dataclass(frozen=True, slots=True)
class Entry:
    """One log entry. `data == b""` is the leader's no-op entry for its term."""

    term: int
    index: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before any message that depends on it is sent."""

    term: int = 0
    vote: str | None = None
    commit: int = 0


@dataclass(frozen=True, slots=True)
class SnapshotMeta:
    index: int = 0
    term: int = 0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A state-machine image covering every entry up to `meta.index`. `data` is opaque to Raft."""

    meta: SnapshotMeta
    data: bytes


@dataclass(slots=True)
class Message:
    type: MsgType
    frm: str
    to: str
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: list[Entry] = field(default_factory=list)
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    snapshot: Snapshot | None = None
    context: bytes = b""


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read is safe once the state machine has applied `index`."""

    index: int
    context: bytes


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile facts for status pages; never persisted."""

    leader: str | None
    role: Role


@dataclass(slots=True)
class Ready:
    """Everything the shell must do, in this order, before calling `advance(ready)`.

    0. The first `early` of `messages` may be sent at once, before or while persisting (as
       etcd's leader does, so that its disk write overlaps its followers'): they are a
       leader's APP, HEARTBEAT and SNAP messages of a term that an earlier Ready already
       persisted, and depend on nothing in this Ready's writes (the leader counts its own
       log toward the commit quorum only up to what `advance` reports persisted).
    1. If `snapshot` is set: install it in the state machine and in log storage
       (discarding log entries it covers).
    2. Persist `entries` (first truncating any stored entries at index >= entries[0].index)
       and `hard_state` when not None, synced to disk. A hard state whose term and vote are
       those already stored (only the commit index moved) need not be synced: the commit
       index is recovered from the quorum (as etcd's MustSync).
    3. Send the rest of `messages` (all of them if none was sent early).
    4. Apply `committed_entries` in order.
    5. Answer `read_states` once applied index >= each one's index.
    6. For each peer in `snapshot_requests`, build a snapshot of the state machine and
       hand it to `core.send_snapshot(peer, snapshot)`.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    early: int = 0  # messages[:early] may be sent before persisting (step 0)
    read_states: list[ReadState] = field(default_factory=list)
    snapshot_requests: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (
            self.soft_state
            or self.hard_state
            or self.entries
            or self.snapshot
            or self.committed_entries
            or self.messages
            or self.read_states
            or self.snapshot_requests
        )


@dataclass(frozen=True, slots=True)
class RaftConfig:
    election_ticks: int = 15  # randomized per election in [election_ticks, 2*election_ticks)
    heartbeat_ticks: int = 3
    max_entries_per_msg: int = 1024
    max_inflight_msgs: int = 256  # pipelined APPs per follower before waiting for acks
    check_quorum: bool = True  # a leader that hears from no quorum for an election timeout steps down
    pre_vote: bool = True


@dataclass(frozen=True, slots=True)
class RestoredState:
    """What the core starts from after a (re)start: durable state only."""

    hard_state: HardState = HardState()
    snapshot_meta: SnapshotMeta = SnapshotMeta()
    entries: tuple[Entry, ...] = ()  # contiguous, starting at snapshot_meta.index + 1
    applied: int = 0  # the state machine's durable applied index (>= snapshot_meta.index)
