"""The WGL linearizability checker used by the integration tests (tests/tools)."""

from __future__ import annotations

import heapq
import itertools
import random
import time
from dataclasses import replace

import pytest

from tests.tools.linearizability import (
    ABSENT,
    INF,
    InconclusiveError,
    Op,
    Recorder,
    cas,
    check,
    check_key,
    delete,
    read,
    write,
)

K = "k"


def only_violation(result):
    assert not result.ok
    assert not result.inconclusive
    assert len(result.violations) == 1, result.report()
    return result.violations[0]


# --------------------------------------------------------------------------- hand-built


def test_sequential_valid():
    h = [
        read(K, ABSENT, client=1, invoke=0, complete=1),
        write(K, "a", revision=1, client=1, invoke=2, complete=3),
        read(K, ("a", 1), client=2, invoke=4, complete=5),
        cas(K, "b", 1, revision=2, client=2, invoke=6, complete=7),
        cas(K, "c", 1, outcome="failed", revision=2, client=1, invoke=8, complete=9),
        read(K, ("b", 2), client=1, invoke=10, complete=11),
        delete(K, revision=3, client=2, invoke=12, complete=13),
        read(K, ABSENT, client=1, invoke=14, complete=15),
        delete(K, outcome="not_found", client=1, invoke=16, complete=17),
        cas(K, "d", 0, revision=4, client=2, invoke=18, complete=19),
        read(K, ("d", 4), client=1, invoke=20, complete=21),
    ]
    r = check(h)
    assert r.ok, r.report()
    assert r.checked_keys == [K]
    assert r.ops == len(h)
    assert [op.revision for op in r.witness[K] if op.kind != "read" and op.outcome == "ok"] == [1, 2, 3, 4]


def test_concurrent_overlapping_valid():
    # the write of "b" overlaps three reads: one sees the old value, two the new one
    # (the read that sees "a" overlaps the first read of "b", so either order works)
    h = [
        write(K, "a", revision=1, client=1, invoke=0, complete=1),
        write(K, "b", revision=2, client=2, invoke=2, complete=10),
        read(K, ("a", 1), client=3, invoke=3, complete=6),
        read(K, ("b", 2), client=4, invoke=4, complete=5),
        read(K, ("b", 2), client=3, invoke=7, complete=8),
        # two concurrent CAS on the same revision: exactly one wins
        cas(K, "c", 2, revision=3, client=1, invoke=11, complete=14),
        cas(K, "d", 2, outcome="failed", revision=3, client=2, invoke=12, complete=13),
        read(K, ("c", 3), client=3, invoke=15, complete=16),
    ]
    assert check(h).ok


def test_stale_read_after_completed_write_is_a_violation():
    h = [
        write(K, "a", revision=1, client=1, invoke=0, complete=1),
        write(K, "b", revision=2, client=1, invoke=2, complete=3),
        read(K, ("a", 1), client=2, invoke=4, complete=5),
    ]
    v = only_violation(check(h))
    assert v.key == K
    assert v.culprit is h[2]
    assert v.pending == [h[2]]
    assert v.linearized == [h[0], h[1]]
    assert "'b' @ rev 2" in v.explanation


def test_read_of_value_never_written_is_a_violation():
    h = [
        write(K, "a", revision=1, client=1, invoke=0, complete=1),
        read(K, ("zzz", 1), client=2, invoke=0.5, complete=2),
    ]
    v = only_violation(check(h))
    assert v.culprit is h[1]


def test_two_cas_on_the_same_revision_both_succeeding_is_a_violation():
    h = [
        write(K, "a", revision=1, client=1, invoke=0, complete=1),
        cas(K, "b", 1, revision=2, client=1, invoke=2, complete=5),
        cas(K, "c", 1, revision=3, client=2, invoke=3, complete=4),
    ]
    v = only_violation(check(h))
    assert v.culprit is h[1]  # the history is fine until the second CAS answers
    assert "compare" in v.explanation


def test_unknown_write_later_observed_is_valid():
    h = [
        write(K, "a", revision=1, client=1, invoke=0, complete=1),
        write(K, "b", client=2, invoke=2),  # timed out
        read(K, ("a", 1), client=3, invoke=3, complete=4),  # not applied yet...
        read(K, ("b", 7), client=3, invoke=5, complete=6),  # ...now it is, at revision 7
        read(K, ("b", 7), client=1, invoke=7, complete=8),
        cas(K, "c", 7, revision=9, client=1, invoke=9, complete=10),
    ]
    r = check(h)
    assert r.ok, r.report()
    assert h[1] in r.witness[K]


def test_unknown_write_never_observed_is_valid():
    h = [
        write(K, "a", revision=1, client=1, invoke=0, complete=1),
        write(K, "b", client=2, invoke=2),
        read(K, ("a", 1), client=3, invoke=3, complete=4),
        read(K, ("a", 1), client=3, invoke=50, complete=51),
    ]
    r = check(h)
    assert r.ok, r.report()
    assert h[1] not in r.witness[K]


def test_unknown_write_revision_is_fixed_by_its_first_observation():
    h = [
        write(K, "b", client=2, invoke=0),
        read(K, ("b", 4), client=1, invoke=1, complete=2),
        read(K, ("b", 5), client=1, invoke=3, complete=4),
    ]
    v = only_violation(check(h))
    assert v.culprit is h[2]


def test_unknown_write_cannot_take_effect_before_it_is_invoked():
    h = [
        read(K, ("b", 1), client=1, invoke=0, complete=1),
        write(K, "b", client=2, invoke=2),
    ]
    only_violation(check(h))


def test_unknown_cas_observed_later_is_valid_and_revision_must_exceed_base():
    base = [
        write(K, "a", revision=3, client=1, invoke=0, complete=1),
        cas(K, "b", 3, client=2, invoke=2),  # unknown outcome
    ]
    assert check([*base, read(K, ("b", 4), client=1, invoke=3, complete=4)]).ok
    # its revision must be above the one it replaced
    only_violation(check([*base, read(K, ("b", 3), client=1, invoke=3, complete=4)]))


def test_delete_then_read_present_is_a_violation():
    h = [
        write(K, "a", revision=1, client=1, invoke=0, complete=1),
        delete(K, revision=2, client=1, invoke=2, complete=3),
        read(K, ("a", 1), client=2, invoke=4, complete=5),
    ]
    v = only_violation(check(h))
    assert v.culprit is h[2]
    assert "absent" in v.explanation


def test_read_absent_after_write_is_a_violation():
    h = [
        write(K, "a", revision=1, client=1, invoke=0, complete=1),
        read(K, ABSENT, client=2, invoke=2, complete=3),
    ]
    only_violation(check(h))


def test_revision_going_backwards_is_a_violation():
    # write revisions must increase along real time
    h = [
        write(K, "a", revision=5, client=1, invoke=0, complete=1),
        write(K, "b", revision=3, client=2, invoke=2, complete=3),
    ]
    v = only_violation(check(h, global_revisions=False))
    assert v.culprit is h[1]
    assert "revisions must increase" in v.explanation
    # a change may not reuse the revision it replaced either
    only_violation(
        check([h[0], write(K, "b", revision=5, client=2, invoke=2, complete=3)], global_revisions=False)
    )
    # and reads may not see the key's revision go backwards
    h = [
        write(K, "a", revision=5, client=1, invoke=0, complete=1),
        read(K, ("a", 5), client=1, invoke=2, complete=3),
        read(K, ("a", 4), client=2, invoke=4, complete=5),
    ]
    only_violation(check(h))


def test_cas_failed_with_wrong_current_revision_is_a_violation():
    base = [write(K, "a", revision=2, client=1, invoke=0, complete=1)]
    ok = cas(K, "b", 1, outcome="failed", revision=2, client=2, invoke=2, complete=3)
    assert check([*base, ok]).ok
    only_violation(check([*base, replace(ok, revision=7)]))
    # failing while the compare holds
    only_violation(check([*base, cas(K, "b", 2, outcome="failed", client=2, invoke=2, complete=3)]))


def test_conditional_delete():
    base = [write(K, "a", revision=2, client=1, invoke=0, complete=1)]
    assert check([*base, delete(K, prev_revision=2, revision=3, invoke=2, complete=3)]).ok
    assert check([*base, delete(K, prev_revision=1, outcome="failed", revision=2, invoke=2, complete=3)]).ok
    only_violation(check([*base, delete(K, prev_revision=1, revision=3, invoke=2, complete=3)]))


def test_keys_are_checked_independently():
    h = [
        write("x", "a", revision=1, client=1, invoke=0, complete=1),
        write("y", "b", revision=2, client=1, invoke=2, complete=3),
        read("x", ("a", 1), client=2, invoke=4, complete=5),
        read("y", ABSENT, client=2, invoke=6, complete=7),
    ]
    r = check(h)
    assert r.checked_keys == ["x", "y"]
    assert [v.key for v in r.violations] == ["y"]
    assert "x" in r.witness
    with pytest.raises(AssertionError, match="key 'y'"):
        r.assert_ok()
    assert check_key([op for op in h if op.key == "x"]).ok
    with pytest.raises(ValueError):
        check_key(h)


def test_initial_state_and_json_values():
    v1, v2 = {"a": [1, 2], "b": None}, {"a": [1, 2], "b": True}
    h = [
        read(K, ({"b": None, "a": [1, 2]}, 10), client=1, invoke=0, complete=1),
        cas(K, v2, 10, revision=11, client=1, invoke=2, complete=3),
        read(K, ({"a": [1, 2], "b": True}, 11), client=2, invoke=4, complete=5),
    ]
    assert check(h, initial={K: (v1, 10)}).ok
    assert not check(h).ok  # key absent initially
    # True and 1 are different JSON values
    bad = [*h[:2], read(K, ({"a": [1, 2], "b": 1}, 11), client=2, invoke=4, complete=5)]
    assert not check(bad, initial={K: (v1, 10)}).ok


def test_cross_key_revision_checks():
    dup = [
        write("x", "a", revision=1, client=1, invoke=0, complete=1),
        write("y", "b", revision=1, client=2, invoke=0, complete=1),
    ]
    r = check(dup)
    assert [(v.key, v.kind) for v in r.violations] == [("*", "revision-order")]
    assert check(dup, global_revisions=False).ok
    backwards = [
        write("x", "a", revision=5, client=1, invoke=0, complete=1),
        write("y", "b", revision=3, client=2, invoke=2, complete=3),
    ]
    v = only_violation(check(backwards))
    assert v.key == "*" and v.culprit is backwards[1]
    # an observation also bounds later changes on other keys
    seen = [
        write("x", "a", client=1, invoke=0),
        read("x", ("a", 8), client=1, invoke=1, complete=2),
        write("y", "b", revision=6, client=2, invoke=3, complete=4),
    ]
    assert only_violation(check(seen)).key == "*"


def test_invalid_ops_are_rejected():
    with pytest.raises(ValueError):
        check([write(K, "a", revision=1, invoke=5, complete=1)])
    with pytest.raises(ValueError):
        check([Op("cas", K, "ok", invoke=0, complete=1, value="a", revision=2)])
    with pytest.raises(ValueError):
        check([Op("write", K, "failed", invoke=0, complete=1, value="a")])


def test_recorder():
    rec = Recorder()
    with rec.write(1, K, "a") as op:
        op.ok(revision=1)
    with rec.read(2, K) as op:
        op.found("a", 1)
    with pytest.raises(TimeoutError), rec.write(1, K, "b"):
        raise TimeoutError  # left as unknown
    hanging = rec.cas(3, K, "c", 1)  # never answered: unknown
    with rec.cas(2, K, "d", 1) as op:
        op.failed(current_revision=4)
    with rec.read(2, K) as op:
        op.found("b", 4)
    with rec.delete(1, K) as op:
        op.ok(revision=5)
    with rec.read(2, K) as op:
        op.absent()
    h = rec.history()
    assert [o.outcome for o in h] == ["ok", "ok", "unknown", "unknown", "failed", "ok", "ok", "not_found"]
    assert h[2].complete == INF and h[3].prev_revision == 1
    assert all(a.invoke <= b.invoke for a, b in itertools.pairwise(h))
    r = check(h)
    assert r.ok, r.report()
    hanging.unknown()
    with pytest.raises(RuntimeError):
        hanging.ok(3)


# --------------------------------------------------------------------------- budget


def hard_history(n_writes: int) -> list[Op]:
    """n concurrent writes without recorded revisions, then a read of a value none of
    them wrote: proving that needs every (subset, last write) pair, ~n * 2**n states."""
    h = [write(K, f"w{i}", client=i, invoke=0, complete=100) for i in range(n_writes)]
    return [*h, read(K, ("nope", None), client=99, invoke=101, complete=102)]


def test_step_budget_gives_inconclusive_instead_of_hanging():
    h = hard_history(20)
    t0 = time.perf_counter()
    r = check(h, budget=2_000)
    assert time.perf_counter() - t0 < 5
    assert not r.ok and not r.violations
    assert [i.key for i in r.inconclusive] == [K]
    assert "budget" in r.inconclusive[0].explanation
    with pytest.raises(InconclusiveError):
        r.assert_ok()
    # a smaller instance fits the default budget and is a violation (the final read)
    h = hard_history(8)
    assert only_violation(check(h)).culprit is h[-1]


# --------------------------------------------------------------------------- randomized


def simulate(
    seed: int,
    *,
    keys=(K,),
    clients: int = 5,
    ops_per_client: int = 30,
    p_unknown: float = 0.1,
    p_apply: float = 0.5,
) -> list[Op]:
    """A real linearizable store (global revision counter) driven by concurrent clients:
    each op takes effect at a random instant inside its interval.  Unknown-outcome ops
    take effect (possibly after the client gave up) or not, at random."""
    rng = random.Random(seed)
    store: dict[str, tuple[str, int] | None] = dict.fromkeys(keys)
    rev = 0
    last_seen: dict[tuple[int, str], int] = {}
    events: list = []
    seq = itertools.count()
    nvals = itertools.count(1)

    def at(t, *ev):
        heapq.heappush(events, (t, next(seq), ev))

    left = dict.fromkeys(range(clients), ops_per_client)
    for c in range(clients):
        at(rng.random(), "invoke", c)
    recs: list[dict] = []
    while events:
        t, _, ev = heapq.heappop(events)
        if ev[0] == "invoke":
            c = ev[1]
            if not left[c]:
                continue
            left[c] -= 1
            key = rng.choice(keys)
            kind = rng.choices(["read", "write", "cas", "delete"], (4, 3, 3, 1))[0]
            o = {"kind": kind, "key": key, "client": c, "invoke": t, "prev": None, "value": None}
            if kind in ("write", "cas"):
                o["value"] = f"v{next(nvals)}"
            if kind == "cas" or (kind == "delete" and rng.random() < 0.3):
                known = last_seen.get((c, key), 0)
                o["prev"] = known if rng.random() < 0.8 else rng.randint(0, rev + 1)
            dur = rng.expovariate(1.0) + 0.01
            o["unknown"] = rng.random() < p_unknown
            if o["unknown"]:
                if rng.random() < p_apply:
                    at(t + rng.random() * dur * 3, "apply", o)
                at(t + dur, "invoke", c)  # the client gives up and moves on
            else:
                at(t + rng.random() * dur, "apply", o)
                at(t + dur, "complete", o)
            recs.append(o)
        elif ev[0] == "apply":
            o = ev[1]
            cur = store[o["key"]]
            p = o["prev"]
            if o["kind"] == "read":
                o["res"] = ("ok", cur) if cur else ("not_found", None)
            elif o["kind"] == "delete":
                if cur is None:
                    o["res"] = ("not_found", None)
                elif p is not None and cur[1] != p:
                    o["res"] = ("failed", cur[1])
                else:
                    rev += 1
                    store[o["key"]] = None
                    o["res"] = ("ok", rev)
            elif o["kind"] == "write" or (p == 0 and cur is None) or (cur and cur[1] == p):
                rev += 1
                store[o["key"]] = (o["value"], rev)
                o["res"] = ("ok", rev)
            else:
                o["res"] = ("failed", cur[1] if cur else 0)
        else:
            o = ev[1]
            o["complete"] = t
            out, x = o["res"]
            if out == "ok" and o["kind"] == "read":
                last_seen[(o["client"], o["key"])] = x[1]
            elif out in ("ok", "failed") and o["kind"] != "delete":
                last_seen[(o["client"], o["key"])] = x
            at(t + rng.expovariate(5.0), "invoke", o["client"])

    ops = []
    for o in recs:
        k, kind = o["key"], o["kind"]
        kw = {"client": o["client"], "invoke": o["invoke"]}
        if o["unknown"]:
            out, x = "unknown", None
        else:
            kw["complete"] = o["complete"]
            out, x = o["res"]
        if kind == "read":
            ops.append(read(k, None if out == "unknown" else (ABSENT if x is None else x), **kw))
        elif kind == "write":
            ops.append(write(k, o["value"], revision=x, **kw))
        elif kind == "cas":
            if out == "failed" and rng.random() < 0.5:
                x = None  # the failure's current revision was not recorded
            ops.append(cas(k, o["value"], o["prev"], outcome=out, revision=x, **kw))
        else:
            ops.append(delete(k, outcome=out, revision=x, prev_revision=o["prev"], **kw))
    return ops


def guaranteed_violation(h: list[Op], rng: random.Random) -> tuple[int, Op, str]:
    """Mutate one result so that the history is certainly not linearizable (values
    are unique per history, which makes each argument below airtight)."""
    changes = [
        i for i, o in enumerate(h) if o.kind != "read" and o.outcome == "ok" and o.revision is not None
    ]
    puts = [i for i in changes if h[i].kind != "delete"]
    reads = [i for i, o in enumerate(h) if o.kind == "read" and o.outcome != "unknown"]
    options = []
    for r in reads:  # a read returns a value first written after the read completed
        w = next((w for w in puts if h[w].key == h[r].key and h[w].invoke > h[r].complete), None)
        if w is not None:
            options.append(("future-read", r, w))
    for w in changes:  # a change reuses the revision of a change that completed before it
        a = next(
            (a for a in changes if a != w and h[a].key == h[w].key and h[a].complete < h[w].invoke), None
        )
        if a is not None:
            options.append(("revision-regress", w, a))
    for r in reads:  # a read returns a version overwritten before the read started
        for b in changes:
            if h[b].key == h[r].key and h[b].complete < h[r].invoke:
                olds = [w for w in puts if w != b and h[w].key == h[r].key and h[w].complete < h[b].invoke]
                if olds:
                    options.append(("stale-read", r, rng.choice(olds)))
                    break
    kind, i, j = rng.choice(options)
    if kind == "revision-regress":
        return i, replace(h[i], revision=h[j].revision), kind
    return i, replace(h[i], outcome="ok", value=h[j].value, revision=h[j].revision), kind


SEEDS = range(12)
SHAPES = [  # (clients, ops per client, p_unknown)
    (5, 40, 0.05),
    (8, 30, 0.15),
    (10, 30, 0.1),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_random_linearizable_histories_pass(seed, shape):
    clients, n, pu = shape
    h = simulate(seed, clients=clients, ops_per_client=n, p_unknown=pu)
    r = check(h)
    assert r.ok, r.report()
    assert len(r.witness[K]) >= sum(o.outcome != "unknown" for o in h)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_random_histories_with_one_mutated_result_fail(seed, shape):
    clients, n, pu = shape
    h = simulate(seed, clients=clients, ops_per_client=n, p_unknown=pu)
    i, mutated, kind = guaranteed_violation(h, random.Random(seed))
    h[i] = mutated
    v = only_violation(check(h, global_revisions=False))
    assert v.key == K, kind
    assert v.culprit is not None and v.pending and v.prefix


@pytest.mark.parametrize("seed", range(4))
def test_random_multi_key_histories(seed):
    h = simulate(seed, keys=("a", "b", "c"), clients=8, ops_per_client=40, p_unknown=0.1)
    r = check(h)
    assert r.ok, r.report()
    assert r.checked_keys == ["a", "b", "c"]
    i, mutated, _ = guaranteed_violation(h, random.Random(seed))
    h[i] = mutated
    r = check(h)
    assert mutated.key in {v.key for v in r.violations}


def test_few_hundred_ops_per_key_is_fast():
    h = simulate(7, clients=8, ops_per_client=40, p_unknown=0.05)
    assert len(h) == 320
    t0 = time.perf_counter()
    r = check(h)
    elapsed = time.perf_counter() - t0
    assert r.ok, r.report()
    assert r.steps < 50_000
    assert elapsed < 2.0  # typically ~10 ms


# --------------------------------------------------------------------------- brute force


def brute_force_linearizable(ops: list[Op]) -> bool:
    """Independent oracle for tiny histories: try every subset of the unknown-outcome ops
    and every real-time-respecting order, with concrete integer revisions."""
    ops = [o for o in ops if not (o.kind == "read" and o.outcome == "unknown")]
    req = [o for o in ops if o.outcome != "unknown"]
    opt = [o for o in ops if o.outcome == "unknown"]
    mentioned = {x for o in ops for x in (o.revision, o.prev_revision) if x is not None}

    def new_revisions(o, last):
        if o.outcome == "ok" and o.revision is not None:
            return [o.revision] if o.revision > last else []
        fresh = last + 1  # smallest revision nobody mentions: the least constraining
        while fresh in mentioned:
            fresh += 1
        return [*sorted(r for r in mentioned if r > last), fresh]

    def successors(o, st):
        present, value, rev, last = st
        current = rev if present else 0
        if o.kind == "read":
            if o.outcome == "not_found":
                return [] if present else [st]
            match = present and value == o.value and o.revision in (None, rev)
            return [st] if match else []
        if o.kind == "delete" and o.outcome == "not_found":
            return [] if present else [st]
        holds = o.prev_revision is None or o.prev_revision == current
        if o.outcome == "failed":
            if holds or (o.revision is not None and o.revision != current):
                return []
            return [st]
        if not holds:
            return []
        if o.kind == "delete":
            if not present:
                return []
            return [(False, None, None, r) for r in new_revisions(o, last)]
        return [(True, o.value, r, r) for r in new_revisions(o, last)]

    def run(seq, i, st):
        if i == len(seq):
            return True
        return any(run(seq, i + 1, nxt) for nxt in successors(seq[i], st))

    for k in range(len(opt) + 1):
        for subset in itertools.combinations(opt, k):
            for seq in itertools.permutations(req + list(subset)):
                if any(
                    seq[j].complete < seq[i].invoke for i in range(len(seq)) for j in range(i + 1, len(seq))
                ):
                    continue
                if run(seq, 0, (False, None, None, 0)):
                    return True
    return False


def random_mutation(h: list[Op], rng: random.Random) -> list[Op]:
    """Perturb one op arbitrarily (the result may or may not stay linearizable)."""
    h = list(h)
    i = rng.randrange(len(h))
    o = h[i]
    values = [x.value for x in h if x.value is not None] or ["v"]
    revs = sorted({x.revision for x in h if x.revision} | {1, 2})
    choice = rng.randrange(6)
    if choice == 0 and o.outcome != "unknown":
        o = replace(o, revision=(o.revision or 0) + rng.choice([-1, 1]))
    elif choice == 1:
        o = replace(o, revision=rng.choice(revs))
    elif choice == 2 and o.kind == "read" and o.outcome != "unknown":
        if o.outcome == "ok":
            o = replace(o, outcome="not_found", value=None, revision=None)
        else:
            o = replace(o, outcome="ok", value=rng.choice(values), revision=rng.choice(revs))
    elif choice == 2 and o.kind == "cas" and o.outcome in ("ok", "failed"):
        o = replace(o, outcome="failed" if o.outcome == "ok" else "ok")
    elif choice == 3 and o.kind in ("cas", "delete"):
        o = replace(o, prev_revision=rng.choice([0, *revs]))
    elif choice == 4:
        o = replace(o, outcome="unknown", complete=INF, revision=None)
    elif choice == 5 and o.outcome != "unknown":
        o = replace(o, invoke=o.invoke - rng.random(), complete=o.complete + rng.random())
    else:
        o = replace(o, value=rng.choice(values))
    h[i] = o
    return h


def test_agrees_with_brute_force_on_small_histories():
    agree = {True: 0, False: 0}
    for seed in range(400):
        rng = random.Random(seed)
        h = simulate(seed, clients=3, ops_per_client=2, p_unknown=0.3, p_apply=0.7)
        for _ in range(rng.randrange(3)):
            h = random_mutation(h, rng)
        try:
            r = check_key(h, minimize=False)
        except ValueError:
            continue  # the mutation produced an ill-formed op
        expected = brute_force_linearizable(h)
        assert r.ok == expected, "\n".join([f"seed {seed}", *(o.describe() for o in h), r.report()])
        agree[expected] += 1
    assert min(agree.values()) > 60, agree  # both verdicts well represented
