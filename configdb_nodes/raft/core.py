"""The pure, deterministic Raft state machine (etcd raft style).

No I/O, no clock, no threads. Inputs: `tick()`, `step(msg)`, `propose(data)`,
`read_index(ctx)`, `send_snapshot(peer, snap)`, `compact(index)`. Output: `ready()`
returns a `Ready` (see types.py for the order the shell must follow), and the shell
calls `advance(ready)` once it has done what the Ready asked.

Randomness (election timeouts) comes from a `random.Random` passed in, so a seed
replays exactly.
"""

from __future__ import annotations

import random

from .types import Message, RaftConfig, Ready, RestoredState, Role, Snapshot


class RaftCore:
    def __init__(
        self,
        node_id: str,
        peers: list[str],
        config: RaftConfig,
        restored: RestoredState,
        rng: random.Random,
    ) -> None:
        """`peers` are the other members. Membership is static."""
        raise NotImplementedError

    # ---- inputs -------------------------------------------------------------------
    def tick(self) -> None:
        """One logical clock tick (election and heartbeat timers)."""
        raise NotImplementedError

    def step(self, msg: Message) -> None:
        """Feed one message received from a peer. Stale or malformed messages are ignored."""
        raise NotImplementedError

    def propose(self, data: bytes) -> bool:
        """Append `data` (non-empty) on the leader, or forward it to the known leader.

        Returns False when no leader is known (the caller should retry later).
        Acceptance is not commitment: the shell learns the outcome only by applying.
        """
        raise NotImplementedError

    def read_index(self, ctx: bytes) -> None:
        """Request a linearizable read point; the answer is a ReadState with this ctx in a
        later Ready. Requests that cannot be served (no leader, leadership lost) are dropped:
        the caller times out and retries."""
        raise NotImplementedError

    def send_snapshot(self, peer: str, snapshot: Snapshot) -> None:
        """Answer a `snapshot_requests` entry with a state-machine image."""
        raise NotImplementedError

    def compact(self, index: int) -> None:
        """The state machine durably covers `index` (<= applied); drop log entries up to it."""
        raise NotImplementedError

    # ---- output -------------------------------------------------------------------
    def has_ready(self) -> bool:
        raise NotImplementedError

    def ready(self) -> Ready:
        raise NotImplementedError

    def advance(self, ready: Ready) -> None:
        raise NotImplementedError

    # ---- observation --------------------------------------------------------------
    @property
    def role(self) -> Role:
        raise NotImplementedError

    @property
    def leader(self) -> str | None:
        raise NotImplementedError

    @property
    def term(self) -> int:
        raise NotImplementedError

    @property
    def commit_index(self) -> int:
        raise NotImplementedError

    @property
    def applied_index(self) -> int:
        raise NotImplementedError

    @property
    def last_index(self) -> int:
        raise NotImplementedError
