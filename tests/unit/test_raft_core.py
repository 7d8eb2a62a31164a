"""Focused scenarios for the pure Raft core (configdb_nodes.raft.core)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from configdb_nodes.raft.core import SNAPSHOT_RETRY_ELECTIONS, RaftCore
from configdb_nodes.raft.progress import ProgressState
from configdb_nodes.raft.types import (
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
    SnapshotMeta,
)

CFG = RaftConfig(election_ticks=10, heartbeat_ticks=2)


def make(
    node_id: str = "a",
    peers: tuple[str, ...] = ("b", "c"),
    restored: RestoredState | None = None,
    **cfg: object,
) -> RaftCore:
    config = replace(CFG, **cfg)  # type: ignore[arg-type]
    return RaftCore(node_id, list(peers), config, restored or RestoredState(), random.Random(7))


def drain(core: RaftCore) -> Ready:
    """Behave like a shell that persists instantly: take one Ready and advance it."""
    rd = core.ready()
    core.advance(rd)
    return rd


def restored_log(term: int, n: int, hs_term: int | None = None, commit: int = 0) -> RestoredState:
    entries = tuple(Entry(term, i, b"x%d" % i) for i in range(1, n + 1))
    return RestoredState(hard_state=HardState(hs_term or term, None, commit), entries=entries)


def of_type(rd: Ready, mtype: MsgType) -> list[Message]:
    return [m for m in rd.messages if m.type is mtype]


class Net:
    """A tiny lossless in-order network: process every Ready, deliver every message."""

    def __init__(self, cores: list[RaftCore]) -> None:
        self.cores = {c.id: c for c in cores}
        self.drop: Callable[[Message], bool] = lambda m: False
        self.read_states: dict[str, list[ReadState]] = {c.id: [] for c in cores}
        self.snapshot_requests: dict[str, list[str]] = {c.id: [] for c in cores}

    def run(self, limit: int = 1000) -> None:
        for _ in range(limit):
            msgs: list[Message] = []
            for core in self.cores.values():
                if core.has_ready():
                    rd = drain(core)
                    msgs.extend(rd.messages)
                    self.read_states[core.id].extend(rd.read_states)
                    self.snapshot_requests[core.id].extend(rd.snapshot_requests)
            if not msgs:
                return
            for m in msgs:
                if not self.drop(m):
                    self.cores[m.to].step(m)
        raise AssertionError("network never quiet")

    def elect(self, node_id: str) -> RaftCore:
        core = self.cores[node_id]
        for _ in range(3 * CFG.election_ticks):
            core.tick()
            self.run()
            if core.role is Role.LEADER:
                return core
        raise AssertionError(f"{node_id} did not become leader")


def cluster(n: int = 3, **cfg: object) -> Net:
    ids = [chr(ord("a") + i) for i in range(n)]
    return Net([make(i, tuple(p for p in ids if p != i), **cfg) for i in ids])


def app(term: int, prev: int, prev_term: int, entries: list[Entry], commit: int = 0) -> Message:
    return Message(
        MsgType.APP,
        frm="b",
        to="a",
        term=term,
        index=prev,
        log_term=prev_term,
        entries=entries,
        commit=commit,
    )


# ---- follower log handling ---------------------------------------------------------------
def test_stale_app_whose_entries_match_does_not_truncate() -> None:
    f = make(restored=restored_log(term=1, n=5))
    f.step(app(1, prev=1, prev_term=1, entries=[Entry(1, 2, b"x2"), Entry(1, 3, b"x3")]))
    assert f.last_index == 5
    rd = drain(f)
    assert rd.entries == []
    (resp,) = of_type(rd, MsgType.APP_RESP)
    assert not resp.reject and resp.index == 3  # acks what matches this leader, not its whole log


def test_conflict_truncates_from_first_conflicting_entry_only() -> None:
    f = make(restored=restored_log(term=1, n=5))
    f.step(app(2, prev=2, prev_term=1, entries=[Entry(1, 3, b"x3"), Entry(2, 4, b"new4")]))
    assert f.last_index == 4
    assert [f.log_term(i) for i in range(1, 5)] == [1, 1, 1, 2]
    rd = drain(f)
    assert rd.entries == [Entry(2, 4, b"new4")]  # the shell truncates its storage at index 4
    assert rd.hard_state == HardState(2, None, 0)
    (resp,) = of_type(rd, MsgType.APP_RESP)
    assert resp.index == 4 and not resp.reject


def test_app_with_mismatching_prev_is_rejected_with_hint() -> None:
    f = make(restored=restored_log(term=1, n=3))
    f.step(app(2, prev=6, prev_term=2, entries=[Entry(2, 7)]))
    (resp,) = of_type(drain(f), MsgType.APP_RESP)
    assert resp.reject and resp.index == 6 and resp.reject_hint == 3
    assert f.last_index == 3


def test_follower_commit_is_bounded_by_last_new_entry() -> None:
    f = make(restored=restored_log(term=1, n=5))
    f.step(app(2, prev=1, prev_term=1, entries=[Entry(1, 2, b"x2")], commit=9))
    assert f.commit_index == 2  # entries 3..5 may not be the leader's
    rd = drain(f)
    assert [e.index for e in rd.committed_entries] == [1, 2]
    assert rd.hard_state is not None and rd.hard_state.commit == 2


def test_ack_and_entries_travel_in_the_same_ready() -> None:
    f = make()
    f.step(app(1, prev=0, prev_term=0, entries=[Entry(1, 1, b"p")]))
    rd = f.ready()
    assert rd.entries == [Entry(1, 1, b"p")]
    assert [m.index for m in of_type(rd, MsgType.APP_RESP)] == [1]
    with pytest.raises(RuntimeError):
        f.ready()  # one Ready at a time
    assert not f.has_ready()
    f.advance(rd)


# ---- leader replication --------------------------------------------------------------------
def test_proposal_goes_out_in_the_very_next_ready_without_a_tick() -> None:
    net = cluster()
    leader = net.elect("a")
    assert leader.propose(b"hello")
    rd = leader.ready()
    assert [e.data for e in rd.entries] == [b"hello"]
    apps = of_type(rd, MsgType.APP)
    assert sorted(m.to for m in apps) == ["b", "c"]
    assert all(m.entries[-1].data == b"hello" for m in apps)


def test_proposals_between_two_readies_form_one_batch() -> None:
    net = cluster()
    leader = net.elect("a")
    assert all(leader.progress(p).state is ProgressState.REPLICATE for p in "bc")  # type: ignore[union-attr]
    for i in range(20):
        assert leader.propose(b"cmd%d" % i)
    rd = leader.ready()
    assert len(rd.entries) == 20
    apps = of_type(rd, MsgType.APP)
    assert len(apps) == 2  # one APP per follower
    assert all(len(m.entries) == 20 for m in apps)


def test_batches_are_split_at_max_entries_per_msg() -> None:
    net = cluster(max_entries_per_msg=8)
    leader = net.elect("a")
    for i in range(20):
        leader.propose(b"cmd%d" % i)
    apps = of_type(leader.ready(), MsgType.APP)
    assert sorted(len(m.entries) for m in apps if m.to == "b") == [4, 8, 8]


def test_leader_counts_its_own_entries_only_once_persisted() -> None:
    solo = make(peers=())
    for _ in range(2 * CFG.election_ticks):
        solo.tick()
    assert solo.role is Role.LEADER
    drain(solo)  # persists the no-op: it commits
    assert solo.commit_index == 1
    solo.propose(b"x")
    rd = solo.ready()
    assert solo.commit_index == 1  # not persisted yet
    solo.advance(rd)
    assert solo.commit_index == 2
    assert [e.data for e in drain(solo).committed_entries] == [b"x"]


def test_leader_does_not_commit_previous_term_entries_by_counting() -> None:
    # a has two uncommitted term-1 entries; it wins term 3 and appends its no-op at 3.
    a = make("a", restored=restored_log(term=1, n=2, hs_term=2))
    for _ in range(2 * CFG.election_ticks):
        a.tick()
        if a.role is Role.PRE_CANDIDATE:
            break
    a.step(Message(MsgType.PRE_VOTE_RESP, "b", "a", term=3))
    assert a.role is Role.CANDIDATE and a.term == 3
    a.step(Message(MsgType.VOTE_RESP, "b", "a", term=3))
    assert a.role is Role.LEADER
    drain(a)  # persist the no-op
    a.step(Message(MsgType.APP_RESP, "b", "a", term=3, index=2))  # b holds the term-1 entries
    assert a.progress("b").match == 2  # type: ignore[union-attr]
    assert a.commit_index == 0  # Figure 8: a quorum holds index 2, but it is from term 1
    a.step(Message(MsgType.APP_RESP, "b", "a", term=3, index=3))
    assert a.commit_index == 3  # committing the term-3 no-op commits 1..2 indirectly


def test_stale_and_duplicate_responses_are_harmless() -> None:
    net = cluster()
    leader = net.elect("a")
    pr = leader.progress("b")
    assert pr is not None
    match = pr.match
    leader.step(Message(MsgType.APP_RESP, "b", "a", term=leader.term, index=match - 1))
    leader.step(Message(MsgType.APP_RESP, "b", "a", term=leader.term, index=0, reject=True, reject_hint=0))
    leader.step(Message(MsgType.APP_RESP, "b", "a", term=leader.term - 1, index=0, reject=True))
    assert pr.match == match and pr.state is ProgressState.REPLICATE
    assert leader.role is Role.LEADER


# ---- elections ------------------------------------------------------------------------------
def test_pre_vote_does_not_bump_term_or_vote() -> None:
    a = make()
    for _ in range(2 * CFG.election_ticks):
        a.tick()
    assert a.role is Role.PRE_CANDIDATE
    assert a.term == 0 and a.vote is None
    rd = a.ready()
    pre = of_type(rd, MsgType.PRE_VOTE)
    assert sorted(m.to for m in pre) == ["b", "c"] and all(m.term == 1 for m in pre)
    assert rd.hard_state is None  # nothing to persist
    b = make("b", ("a", "c"))
    b.step(pre[0] if pre[0].to == "b" else pre[1])
    (resp,) = of_type(b.ready(), MsgType.PRE_VOTE_RESP)
    assert not resp.reject and resp.term == 1
    assert b.term == 0 and b.vote is None  # granting a pre-vote changes nothing


def test_vote_is_persisted_with_the_response_and_given_once_per_term() -> None:
    b = make("b", ("a", "c"))
    b.step(Message(MsgType.VOTE, "a", "b", term=1))
    rd = b.ready()
    assert rd.hard_state == HardState(1, "a", 0)
    (resp,) = of_type(rd, MsgType.VOTE_RESP)
    assert not resp.reject
    b.advance(rd)
    b.step(Message(MsgType.VOTE, "c", "b", term=1))
    (resp,) = of_type(drain(b), MsgType.VOTE_RESP)
    assert resp.reject


def test_vote_needs_an_up_to_date_log() -> None:
    b = make("b", ("a", "c"), restored=restored_log(term=2, n=3))
    b.step(Message(MsgType.VOTE, "a", "b", term=3, index=9, log_term=1))
    (resp,) = of_type(drain(b), MsgType.VOTE_RESP)
    assert resp.reject and b.term == 3 and b.vote is None


def test_leader_steps_down_without_quorum() -> None:
    net = cluster()
    leader = net.elect("a")
    for _ in range(2 * CFG.election_ticks):
        leader.tick()  # no answers from anyone
    assert leader.role is Role.FOLLOWER and leader.leader is None
    assert not leader.propose(b"x")


def test_leader_keeps_leading_with_quorum() -> None:
    net = cluster()
    leader = net.elect("a")
    net.drop = lambda m: "c" in (m.frm, m.to)
    for _ in range(3 * CFG.election_ticks):
        leader.tick()
        net.run()
    assert leader.role is Role.LEADER


def test_follower_in_lease_ignores_disruptive_votes() -> None:
    net = cluster()
    net.elect("a")
    b = net.cores["b"]
    term = b.term
    b.step(Message(MsgType.VOTE, "c", "b", term=term + 5, index=100, log_term=term + 4))
    b.step(Message(MsgType.PRE_VOTE, "c", "b", term=term + 5, index=100, log_term=term + 4))
    assert b.term == term and b.leader == "a"
    assert not b.has_ready()


def test_higher_term_response_makes_a_stale_leader_step_down() -> None:
    net = cluster()
    leader = net.elect("a")
    leader.step(Message(MsgType.APP_RESP, "b", "a", term=leader.term + 1))
    assert leader.role is Role.FOLLOWER and leader.term == 2


# ---- forwarding --------------------------------------------------------------------------------
def test_follower_forwards_proposals_in_one_prop_message() -> None:
    net = cluster()
    net.elect("a")
    b = net.cores["b"]
    assert b.propose(b"p1") and b.propose(b"p2")
    (prop,) = of_type(b.ready(), MsgType.PROP)
    assert prop.to == "a" and [e.data for e in prop.entries] == [b"p1", b"p2"]


def test_propose_without_leader_returns_false() -> None:
    assert not make().propose(b"x")
    with pytest.raises(ValueError):
        make().propose(b"")


def test_forwarded_proposals_commit_everywhere() -> None:
    net = cluster()
    net.elect("a")
    net.cores["c"].propose(b"via-c")
    net.run()
    net.cores["a"].tick()  # a heartbeat carries the final commit index
    net.run()
    assert {c.commit_index for c in net.cores.values()} == {2}


# ---- ReadIndex ---------------------------------------------------------------------------------
def test_read_index_on_leader_waits_for_heartbeat_quorum() -> None:
    net = cluster()
    leader = net.elect("a")
    leader.read_index(b"ctx1")
    rd = leader.ready()
    assert rd.read_states == []
    beats = of_type(rd, MsgType.HEARTBEAT)
    assert len(beats) == 2 and all(m.context == b"ctx1" for m in beats)
    leader.advance(rd)
    leader.step(Message(MsgType.HEARTBEAT_RESP, "b", "a", term=leader.term, context=b"ctx1"))
    assert drain(leader).read_states == [ReadState(leader.commit_index, b"ctx1")]


def test_read_index_from_follower() -> None:
    net = cluster()
    net.elect("a")
    b = net.cores["b"]
    b.read_index(b"r1")
    net.run()
    assert net.read_states["b"] == [ReadState(1, b"r1")]


def test_read_index_deferred_until_leader_commits_in_its_term() -> None:
    net = cluster()
    a = net.cores["a"]
    net.drop = lambda m: m.type is MsgType.APP_RESP  # a cannot commit its no-op yet
    net.elect("a")
    a.read_index(b"early")
    net.run()
    assert net.read_states["a"] == [] and a.commit_index == 0
    net.drop = lambda m: False
    for _ in range(CFG.heartbeat_ticks):
        a.tick()  # heartbeat -> probe -> the no-op commits -> the deferred read proceeds
    net.run()
    assert net.read_states["a"] == [ReadState(1, b"early")]


def test_single_node_read_index_answers_immediately() -> None:
    solo = make(peers=())
    for _ in range(2 * CFG.election_ticks):
        solo.tick()
    drain(solo)
    solo.read_index(b"q")
    assert drain(solo).read_states == [ReadState(1, b"q")]


def test_read_index_without_leader_is_dropped() -> None:
    a = make()
    a.read_index(b"q")
    assert not a.has_ready()


# ---- snapshots ----------------------------------------------------------------------------------
def test_snapshot_request_send_and_install() -> None:
    net = cluster()
    leader = net.elect("a")
    c = net.cores["c"]
    net.drop = lambda m: "c" in (m.frm, m.to)
    for i in range(5):
        leader.propose(b"v%d" % i)
        net.run()
    assert leader.commit_index == 6
    leader.compact(leader.applied_index)
    assert leader.first_index == 7
    net.drop = lambda m: False

    # c answers a heartbeat; the leader backtracks to entries it dropped and asks for a snapshot
    for _ in range(3 * CFG.heartbeat_ticks):
        leader.tick()
        net.run()
    assert net.snapshot_requests["a"] == ["c"]  # once, while the request is pending
    assert leader.progress("c").state is ProgressState.SNAPSHOT  # type: ignore[union-attr]
    assert c.commit_index == 1

    snap = Snapshot(SnapshotMeta(6, leader.log_term(6) or 0), b"image")
    leader.send_snapshot("c", snap)
    (msg,) = of_type(drain(leader), MsgType.SNAP)
    c.step(msg)
    rd = drain(c)
    assert rd.snapshot == snap and rd.entries == [] and rd.committed_entries == []
    (ack,) = of_type(rd, MsgType.APP_RESP)
    assert ack.index == 6 and not ack.reject
    assert c.commit_index == 6 and c.applied_index == 6 and c.first_index == 7
    leader.step(ack)
    assert leader.progress("c").state is ProgressState.REPLICATE  # type: ignore[union-attr]
    leader.propose(b"after")
    net.run()
    leader.tick()
    net.run()
    assert c.commit_index == 7 and c.log_term(7) == leader.term


def test_stale_snapshot_is_not_installed() -> None:
    f = make(restored=restored_log(term=1, n=5, commit=4))
    f.step(
        Message(MsgType.SNAP, "b", "a", term=1, snapshot=Snapshot(SnapshotMeta(3, 1), b"old")),
    )
    rd = drain(f)
    assert rd.snapshot is None and f.last_index == 5
    (ack,) = of_type(rd, MsgType.APP_RESP)
    assert ack.index == 4


def test_compact_keeps_the_compaction_point_term() -> None:
    f = make(restored=RestoredState(HardState(1, None, 5), entries=tuple(Entry(1, i) for i in range(1, 6))))
    drain(f)
    f.compact(3)
    assert f.first_index == 4 and f.log_term(3) == 1 and f.log_term(2) is None
    f.compact(99)  # clamped to the applied index
    assert f.first_index == 6


# ---- restart --------------------------------------------------------------------------------------
def test_restart_from_restored_state_does_not_reapply() -> None:
    restored = RestoredState(
        hard_state=HardState(2, "b", 5),
        snapshot_meta=SnapshotMeta(2, 1),
        entries=tuple(Entry(1 if i < 4 else 2, i, b"e%d" % i) for i in range(3, 7)),
        applied=3,
    )
    core = make(restored=restored)
    assert (core.term, core.vote, core.commit_index, core.applied_index, core.last_index) == (2, "b", 5, 3, 6)
    rd = drain(core)
    assert [e.index for e in rd.committed_entries] == [4, 5]
    assert rd.entries == [] and rd.hard_state is None
    assert not core.has_ready()


def test_restore_rejects_inconsistent_state() -> None:
    with pytest.raises(ValueError):
        make(restored=RestoredState(HardState(1, None, 9), entries=(Entry(1, 1),)))
    with pytest.raises(ValueError):
        make(restored=RestoredState(entries=(Entry(1, 2),)))


def test_lost_snapshot_is_requested_again_after_a_timeout() -> None:
    net = cluster()
    leader = net.elect("a")
    net.drop = lambda m: "c" in (m.frm, m.to)
    leader.propose(b"v")
    net.run()
    leader.compact(leader.applied_index)
    net.drop = lambda m: m.type is MsgType.SNAP  # every snapshot is lost on the way
    for _ in range(3 * CFG.heartbeat_ticks):
        leader.tick()
        net.run()
    assert net.snapshot_requests["a"] == ["c"]
    snap = Snapshot(SnapshotMeta(leader.commit_index, leader.term), b"img")
    leader.send_snapshot("c", snap)
    leader.send_snapshot("c", snap)  # answered already: ignored
    net.run()
    for _ in range(core_snapshot_retry_ticks()):
        leader.tick()
        net.run()
    assert net.snapshot_requests["a"] == ["c", "c"]  # asked once more after the timeout
    net.drop = lambda m: False
    leader.send_snapshot("c", snap)
    net.run()
    assert net.cores["c"].commit_index == leader.commit_index
    assert leader.progress("c").state is ProgressState.REPLICATE  # type: ignore[union-attr]


def core_snapshot_retry_ticks() -> int:
    return SNAPSHOT_RETRY_ELECTIONS * CFG.election_ticks + CFG.heartbeat_ticks


def test_inflight_window_bounds_pipelining() -> None:
    net = cluster(max_inflight_msgs=2, max_entries_per_msg=1)
    leader = net.elect("a")
    for i in range(5):
        leader.propose(b"p%d" % i)
    rd = drain(leader)
    to_b = [m for m in of_type(rd, MsgType.APP) if m.to == "b"]
    assert [m.entries[0].index for m in to_b] == [2, 3]  # two in flight, then paused
    leader.step(Message(MsgType.APP_RESP, "b", "a", term=leader.term, index=2))
    to_b = [m for m in of_type(drain(leader), MsgType.APP) if m.to == "b"]
    assert [m.entries[0].index for m in to_b] == [4]


def test_non_leader_drops_forwarded_traffic() -> None:
    b = make("b", ("a", "c"))
    b.step(Message(MsgType.PROP, "a", "b", entries=[Entry(0, 0, b"x")]))
    b.step(Message(MsgType.READ_INDEX, "a", "b", context=b"q"))
    assert not b.has_ready() and b.last_index == 0


def test_stale_leader_learns_the_newer_term_from_its_followers() -> None:
    b = make("b", ("a", "c"), restored=RestoredState(HardState(5, None, 0)))
    b.step(Message(MsgType.HEARTBEAT, "a", "b", term=3))
    (resp,) = of_type(drain(b), MsgType.APP_RESP)
    assert resp.term == 5 and resp.to == "a"
