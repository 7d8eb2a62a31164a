"""Deterministic simulation of the Raft core over many seeds (configdb_nodes.raft.sim).

Default: DEFAULT_SEEDS seeds per cluster size. More: `--seeds N`, `SIM_SEEDS=N`, or `--slow`
(SLOW_SEEDS). `SIM_STEPS=N` changes the random steps per seed. A failure prints the seed
and the command that replays it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from configdb_nodes.raft import core as raft_core
from configdb_nodes.raft import sim
from configdb_nodes.raft.types import Message, MsgType

DEFAULT_SEEDS = {3: 500, 5: 400}
SLOW_SEEDS = {3: 20_000, 5: 15_000}
CHUNK = 50


def _seed_count(config: pytest.Config, nodes: int) -> int:
    explicit = config.getoption("--seeds", default=None) or os.environ.get("SIM_SEEDS")
    if explicit:
        return int(explicit)
    return (SLOW_SEEDS if config.getoption("--slow", default=False) else DEFAULT_SEEDS)[nodes]


def _params() -> sim.SimParams:
    steps = os.environ.get("SIM_STEPS")
    return sim.SimParams(steps=int(steps)) if steps else sim.SimParams()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "seed_chunk" not in metafunc.fixturenames:
        return
    chunks = []
    for nodes in (3, 5):
        total = _seed_count(metafunc.config, nodes)
        chunks += [(nodes, lo, min(lo + CHUNK, total)) for lo in range(0, total, CHUNK)]
    metafunc.parametrize("seed_chunk", chunks, ids=[f"{n}nodes-seeds{lo}-{hi - 1}" for n, lo, hi in chunks])


def test_simulation(seed_chunk: tuple[int, int, int]) -> None:
    nodes, lo, hi = seed_chunk
    sim.run_seeds(range(lo, hi), nodes, _params())


def test_same_seed_replays_identically() -> None:
    runs = [sim.Simulation(42, 5, trace=True) for _ in range(2)]
    stats = [r.run() for r in runs]
    assert stats[0] == stats[1]
    assert runs[0].trace == runs[1].trace
    assert stats[0].leaders and stats[0].acked and stats[0].reads


def test_main_runs_a_seed(capsys: pytest.CaptureFixture[str]) -> None:
    assert sim.main(["--seed", "3", "--nodes", "3", "--steps", "500"]) == 0
    assert "ok: 1 seed(s) from 3" in capsys.readouterr().out


# ---- the simulator must catch deliberately broken cores -----------------------------------------
def _truncate_on_any_app(self: raft_core.RaftLog, prev: int, prev_term: int, commit: int, entries: list):
    """BUG: a matching APP truncates everything after `prev`, even a stale one."""
    if self.term(prev) != prev_term:
        return None
    if entries and entries[0].index > self.committed:
        self.append(entries)
    self.commit_to(min(commit, prev + len(entries)))
    return prev + len(entries)


def _commit_by_counting_any_term(self: raft_core.RaftCore) -> bool:
    """BUG: no Figure 8 rule, entries of earlier terms commit by counting replicas."""
    log = self._log
    matches = sorted([log.stable_last, *(pr.match for pr in self._prs.values())], reverse=True)
    index = matches[self._quorum - 1]
    if index > log.committed:
        log.commit_to(index)
        return True
    return False


def _vote_for_anyone(self: raft_core.RaftCore, msg: Message) -> None:
    """BUG: more than one vote per term."""
    resp = MsgType.PRE_VOTE_RESP if msg.type is MsgType.PRE_VOTE else MsgType.VOTE_RESP
    self._send(resp, msg.frm, term=msg.term, reject=not self._log.is_up_to_date(msg.index, msg.log_term))


def _read_without_heartbeat_quorum(self: raft_core.RaftCore, ctx: bytes, requester: str | None) -> None:
    """BUG: a (possibly deposed) leader answers reads without confirming its leadership."""
    self._answer_read(raft_core.ReadRequest(self._log.committed, ctx, requester))


_original_init = raft_core.RaftCore.__init__


def _forget_vote_on_restart(self: raft_core.RaftCore, *args: object, **kwargs: object) -> None:
    """BUG: the vote is not restored after a restart."""
    _original_init(self, *args, **kwargs)  # type: ignore[arg-type]
    self._vote = None


MUTANTS: dict[str, tuple[type, str, Callable, int]] = {
    # name: (class, attribute, broken replacement, seeds to search per cluster size)
    "truncate_stale_app": (raft_core.RaftLog, "maybe_append", _truncate_on_any_app, 50),
    "commit_prior_term": (raft_core.RaftCore, "_maybe_commit", _commit_by_counting_any_term, 400),
    "double_vote": (raft_core.RaftCore, "_handle_vote_request", _vote_for_anyone, 50),
}
SLOW_MUTANTS: dict[str, tuple[type, str, Callable, int]] = {
    "read_without_quorum": (raft_core.RaftCore, "_leader_read", _read_without_heartbeat_quorum, 1500),
    "vote_not_restored": (raft_core.RaftCore, "__init__", _forget_vote_on_restart, 1500),
}


def _first_failure(nodes_seeds: Iterator[tuple[int, int]]) -> sim.SimFailure | None:
    for nodes, seed in nodes_seeds:
        try:
            sim.Simulation(seed, nodes).run()
        except sim.SimFailure as exc:
            return exc
    return None


def _check_mutant(monkeypatch: pytest.MonkeyPatch, mutant: tuple[type, str, Callable, int]) -> None:
    cls, attr, broken, seeds = mutant
    monkeypatch.setattr(cls, attr, broken)
    failure = _first_failure((n, s) for s in range(seeds) for n in (3, 5))
    assert failure is not None, f"the simulator missed {broken.__doc__}"
    assert "replay: .venv/bin/python -m configdb_nodes.raft.sim --seed" in str(failure)


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_simulator_catches_broken_core(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    _check_mutant(monkeypatch, MUTANTS[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_MUTANTS))
def test_simulator_catches_broken_core_slow(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    _check_mutant(monkeypatch, SLOW_MUTANTS[name])
