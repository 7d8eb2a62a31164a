"""A 3-node shard, each node in its own network namespace, under a fault schedule (the
nemesis) while clients read, write, compare-and-set (by revision and by transaction) and
delete, and a watcher follows every change:

* the leader isolated from its peers, a follower isolated, the leader's link down;
* asymmetric links (the leader's packets to the followers dropped, or theirs to it) and a
  non-transitive partition (the leader and one follower cut, both still reach the third);
* congestion: every link token-bucket limited (queueing delay, then drops);
* the leader paused with SIGSTOP;
* a crash/restart loop (SIGKILL, start again).

Checked at the end: the history is linearizable (tests/tools/linearizability.py), every
acknowledged write is in the committed history at its revision, the watch stream (resumed
from its last revision after every disconnect) has no gap and no duplicate, and every node
holds the state the stream describes.

The first test runs each fault once (well under 3 minutes); with `--slow` a second one runs
40 faults drawn at random. The namespaces need root and iproute2: if they cannot be made, the test
fails saying so.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.local.configdb_cluster import LocalCluster, NodeProc
from tests.nemesis.load import Clients, Watcher
from tests.nemesis.netns import NetLab, NetnsError
from tests.tools.linearizability import check
from tests.waiting import eventually

KEYS = [f"nem/{i}" for i in range(4)]
HOLD = 3.5  # seconds a fault lasts: the scenario itself


@pytest.fixture
def lab() -> Iterator[NetLab]:
    net = NetLab(3)
    try:
        net.make()
    except NetnsError as exc:
        pytest.fail(f"cannot make the network namespaces this test needs (root and iproute2): {exc}")
    try:
        yield net
    finally:
        net.close()


@pytest.fixture
def net_cluster(lab: NetLab, tmp_path: Path) -> Iterator[LocalCluster]:
    cluster = LocalCluster(
        base_dir=tmp_path / "cluster",
        hosts=lab.hosts,
        launcher=lambda node: lab.exec_prefix(lab.index_of_host(node.host)),
    )
    cluster.start()
    try:
        yield cluster
    finally:
        for node in cluster.nodes:
            if node.alive():
                assert node.proc is not None
                node.proc.send_signal(signal.SIGCONT)
        cluster.stop()


class Nemesis:
    def __init__(self, lab: NetLab, cluster: LocalCluster, clients: Clients, rng: random.Random) -> None:
        self.lab, self.cluster, self.clients, self.rng = lab, cluster, clients, rng
        self.log: list[str] = []

    def index(self, node: NodeProc) -> int:
        return self.cluster.nodes.index(node)

    def leader(self) -> int:
        node = eventually(self.cluster.leader, timeout=60, message="a leader")
        return self.index(node)

    def follower(self, leader: int) -> int:
        return self.rng.choice([i for i in range(len(self.cluster.nodes)) if i != leader])

    def assert_alive(self) -> None:
        """No node exited on its own (the schedule restarts the ones it kills at once)."""
        for node in self.cluster.nodes:
            if not node.alive():
                tail = node.log_path.read_text(errors="replace")[-3000:]
                raise AssertionError(f"{node.node_id} exited during {self.log[-1]}: {tail}")

    def recover(self, answers: int = 25) -> None:
        """The clients get `answers` more definite answers (the shard serves again)."""
        self.assert_alive()
        target = self.clients.answered() + answers
        eventually(
            lambda: self.clients.answered() >= target,
            timeout=90,
            interval=0.1,
            message=f"{answers} more answered operations after {self.log[-1] if self.log else 'the start'}",
        )

    def hold(self) -> None:
        time.sleep(HOLD)  # the fault lasts this long: the scenario itself

    # ---- faults ---------------------------------------------------------------------------
    def isolate_leader(self) -> None:
        self.lab.isolate(self.leader())
        self.hold()
        self.lab.heal()

    def isolate_follower(self) -> None:
        self.lab.isolate(self.follower(self.leader()))
        self.hold()
        self.lab.heal()

    def leader_link_down(self) -> None:
        self.lab.link_down(self.leader())
        self.hold()
        self.lab.heal()

    def leader_cannot_send(self) -> None:
        lead = self.leader()
        for j in range(len(self.cluster.nodes)):
            if j != lead:
                self.lab.block(lead, j)
        self.hold()
        self.lab.heal()

    def leader_cannot_hear(self) -> None:
        lead = self.leader()
        for j in range(len(self.cluster.nodes)):
            if j != lead:
                self.lab.block(j, lead)
        self.hold()
        self.lab.heal()

    def bridge(self) -> None:
        lead = self.leader()
        other = self.follower(lead)
        self.lab.block(lead, other)
        self.lab.block(other, lead)
        self.hold()
        self.lab.heal()

    def congestion(self) -> None:
        for i in range(len(self.cluster.nodes)):
            self.lab.congest(i)
        self.hold()
        sent, dropped, delayed = self.lab.congestion_drops()
        self.lab.heal()
        self.log[-1] += f" [packets: {sent} sent, {delayed} over the rate, {dropped} dropped]"

    def pause_leader(self) -> None:
        node = self.cluster.nodes[self.leader()]
        assert node.proc is not None
        node.proc.send_signal(signal.SIGSTOP)
        try:
            self.hold()
        finally:
            node.proc.send_signal(signal.SIGCONT)

    def crash_restart_loop(self) -> None:
        for _ in range(3):
            lead = self.leader()
            victim = self.cluster.nodes[lead if self.rng.random() < 0.5 else self.follower(lead)]
            self.cluster.kill(victim)
            time.sleep(self.rng.uniform(0.2, 1.5))  # down for a while: the scenario itself
            self.cluster.start_node(victim)
            self.recover(10)

    def run(self, name: str) -> None:
        self.log.append(name)
        started = time.monotonic()
        getattr(self, name)()
        self.recover()
        self.assert_alive()
        self.log[-1] += f" ({time.monotonic() - started:.1f}s)"
        print(self.log[-1], flush=True)


FAULTS = [
    "isolate_leader",
    "isolate_follower",
    "leader_cannot_send",
    "leader_cannot_hear",
    "bridge",
    "congestion",
    "pause_leader",
    "leader_link_down",
    "crash_restart_loop",
]


def _items(c: httpx.Client, node: NodeProc) -> dict[str, tuple[object, int]]:
    page = c.get(f"{node.http}/v1/kv", params={"prefix": "nem/", "limit": 10_000}).json()
    return {i["key"]: (i["value"], i["revision"]) for i in page["items"]}


def _check_watch(events: list[tuple[int, str, str, object]]) -> dict[str, tuple[object, int]]:
    """No gap, no duplicate, revisions from 1 in order; returns the state it describes."""
    state: dict[str, tuple[object, int]] = {}
    seen: set[tuple[int, str]] = set()
    last = 0
    for rev, kind, key, value in events:
        assert (rev, key) not in seen, f"duplicate event {key} at revision {rev}"
        seen.add((rev, key))
        assert rev in (last, last + 1), f"watch went from revision {last} to {rev}"
        last = rev
        if kind == "put":
            state[key] = (value, rev)
        else:
            state.pop(key, None)
    return state


def test_linearizable_and_gap_free_under_the_nemesis(lab: NetLab, net_cluster: LocalCluster) -> None:
    _under_the_nemesis(lab, net_cluster, long=False)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_linearizable_and_gap_free_under_a_long_nemesis(lab: NetLab, net_cluster: LocalCluster) -> None:
    _under_the_nemesis(lab, net_cluster, long=True)


def _under_the_nemesis(lab: NetLab, cluster: LocalCluster, long: bool) -> None:
    cluster.wait_healthy()
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    schedule = [rng.choice(FAULTS) for _ in range(40)] if long else list(FAULTS)
    print(f"nemesis seed={seed}: {', '.join(schedule)}", flush=True)
    clients = Clients(cluster, KEYS)
    watcher = Watcher(cluster)
    nemesis = Nemesis(lab, cluster, clients, rng)
    watcher.start()
    clients.start()
    try:
        nemesis.recover(50)
        for name in schedule:
            nemesis.run(name)
    finally:
        clients.stop()
        lab.heal()
    print(f"seed={seed} schedule: " + ", ".join(nemesis.log), flush=True)

    # Heal, then every node converges and the watcher catches up.
    def converged() -> tuple[int] | None:
        sts = [cluster.status(n) for n in cluster.nodes]
        revs = {int(st["revision"]) for st in sts if st is not None}  # type: ignore[call-overload]
        return (revs.pop(),) if len(revs) == 1 and None not in sts else None

    (final,) = eventually(converged, timeout=60, message="every node at the same revision")
    eventually(
        lambda: watcher.next_revision > final, timeout=60, message=f"the watch to reach revision {final}"
    )
    watcher.stop()

    history = clients.recorder.history()
    result = check(history)
    print(
        f"ops={len(history)} answered={clients.answered()} acked={len(clients.acked)} "
        f"violations={len(result.violations)} revision={final} watch_reconnects={watcher.reconnects}"
    )
    assert not watcher.problems, watcher.problems
    state = _check_watch(watcher.events)
    assert watcher.events and watcher.events[-1][0] == final
    events = {(rev, key): (kind, value) for rev, kind, key, value in watcher.events}
    lost = [a for a in clients.acked if events.get((a.revision, a.key)) != ("put", a.value)]
    assert not lost, f"{len(lost)} acknowledged writes are not in the committed history: {lost[:5]}"
    with httpx.Client(headers=cluster.headers(), timeout=10) as c:
        for node in cluster.nodes:
            assert _items(c, node) == state, f"{node.node_id} disagrees with the watched history"
    result.assert_ok()
    assert len(history) > 300


def test_a_leader_that_could_not_hear_its_peers_serves_soon_after_the_heal(
    lab: NetLab, net_cluster: LocalCluster
) -> None:
    """The leader's packets reach its peers but theirs (acknowledgements included) do not reach
    it, long enough for TCP to back its retransmissions off to many seconds. After the heal it
    must relay writes to the new leader within a few seconds, not after the next backed-off
    retransmission of a connection that stalled during the fault."""
    cluster = net_cluster
    old = cluster.nodes.index(cluster.wait_healthy())
    for j in range(len(cluster.nodes)):
        if j != old:
            lab.block(j, old)
    time.sleep(14)  # the fault lasts this long: the scenario itself
    lab.heal()
    healed = time.monotonic()
    node = cluster.nodes[old]
    with httpx.Client(headers=cluster.headers(), timeout=1) as c:

        def written() -> bool:
            return c.put(f"{node.http}/v1/kv/heal/{old}", json=1).status_code == 200

        eventually(written, timeout=60, interval=0.05, message=f"a write through {node.node_id}")
    took = time.monotonic() - healed
    print(f"a write through the former leader {node.node_id} succeeded {took:.2f}s after the heal")
    assert took < 4.0, f"{node.node_id} took {took:.2f}s after the heal to take a write"
