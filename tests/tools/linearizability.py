"""WGL-style linearizability checker for ConfigDB key/value histories (test tool).

Integration tests record what concurrent clients did (each operation's invocation
time, completion time and answer) and ask whether some total order of the operations
explains every answer while respecting real time.  The store is checked per key
(linearizability is compositional: a history is linearizable iff every key's
sub-history is), so each key is an independent, small search.

Model (one key): a register that is either absent or holds ``(value, revision)``,
where ``revision`` is the key's mod revision.  Operations:

* ``read``   -> ``ok`` with ``(value, revision)`` or ``not_found`` (absent).
* ``write``  (unconditional put) -> ``ok`` with the new revision R, or ``unknown``.
* ``cas``    (put if the key's revision == ``prev_revision``; 0 = must be absent)
  -> ``ok`` (R) / ``failed`` (optionally with the current revision the store reported,
  0 = absent) / ``unknown``.
* ``delete`` (optionally conditional on ``prev_revision``) -> ``ok`` (R) / ``not_found``
  / ``failed`` (conditional only) / ``unknown``.

Every change must carry a revision strictly above the key's previous revision (the
revision of its last put or delete), and reads must return the current one, so
observed revisions strictly increase along the linearization.  An ``unknown`` outcome
(timeout, connection reset, cancelled task) means the change may have taken effect at
any time after its invocation, or never: such operations are *optional* and have
completion time +inf.  Their revision is not known; it is tracked symbolically (a lower
bound) and fixed by the first operation that observes it (a read of the value, a
failed CAS reporting the current revision, a CAS that succeeded against it).
Unknown-outcome reads carry no information and are dropped.

Assumptions the recorder must honour:

* Reads are linearizable reads (``?consistent=true``); stale follower reads are not
  linearizable and will be reported.
* A request retried with the same ``request_id`` is ONE operation: invocation of the
  first attempt, completion of the answer finally accepted.
* Values written in one test are unique (so a read identifies its write).  The checker
  stays sound without this, it just has to search more.
* ``invoke``/``complete`` come from one monotonic clock (``time.monotonic()``), taken
  just before sending and just after receiving.

Algorithm: Wing & Gong's search with Lowe's refinements (memoization of
(linearized-set, model state), P-compositionality).  A configuration is the set of
linearized operations (a bitset int) plus the model state; the candidates to linearize
next are the not-yet-linearized operations invoked no later than the earliest pending
completion.  Additional pruning, each justified in the code:

* State-preserving operations (reads, failed CAS, not-found deletes) that apply to the
  current state are linearized greedily, without branching.
* Optional (unknown) operations that would not change the state are never linearized;
  an optional unconditional put/delete is never linearized directly after another
  optional operation (dropping the earlier one is always at least as good).
* Symmetry: optional puts whose value no read reports get one anonymous value, and of
  several pending optional operations with the same effect only the first is tried.
* The failure cache uses dominance, not just equality: a configuration is pruned if a
  failed one had the same required operations and register contents, a subset of the
  optional operations linearized and a revision lower bound no higher.

On a violation the checker also binary-searches the shortest failing prefix of the
key's history (ops answered by time T required; ops still in flight optional), so the
report names the operation whose answer first made the history impossible (the
*culprit*), the longest partial linearization of that prefix and why each pending
operation cannot come next.

Complexity: the search is exponential in the worst case (the problem is NP-complete).
With memoization the work is bounded by (number of reachable linearized sets) x
(distinct register states); for histories where at most ``c`` required operations
overlap, reachable sets are about ``n * 2**c``.  Known revisions pin the order of all
successful changes, which keeps real histories far from that bound; the expensive
cases are many concurrent changes *without* recorded revisions, and many unknown-outcome
puts whose values are read back (each stays pending forever and widens every later
window).  Measured on simulated histories: 300 ops / 5-10 clients / 5-10 % unknown
outcomes checks in ~5 ms (a few thousand steps); 480 ops / 16 clients / 20 % unknown
in < 0.3 s; a violating 300-op history, minimization included, in tens of ms.
Each key's search is capped by ``budget`` model steps (~1 us each); when exceeded the
key is reported as *inconclusive* (``Result.ok`` is False, ``Result.inconclusive``
names it, ``assert_ok()`` raises ``InconclusiveError``) instead of hanging.

Across keys, ``check`` also verifies the global revision counter: no two successful
changes share a revision, and a change invoked after some operation completed has a
higher revision than anything that operation wrote or observed (``global_revisions``).

Usage::

    from tests.tools.linearizability import Recorder, check

    rec = Recorder()
    with rec.write(client=1, key="k", value="v1") as op:   # exits unknown on exception
        op.ok(revision=resp["revision"])
    with rec.read(client=2, key="k") as op:                  # found(v, rev) / absent()
        op.found(item["value"], item["revision"])
    with rec.cas(client=3, key="k", value="v2", prev_revision=7) as op:
        op.failed(current_revision=problem["revision"])     # or ok(revision=...)
    ...
    check(rec.history()).assert_ok()   # AssertionError with a readable report

Hand-built histories use ``read/write/cas/delete(...)`` (see their docstrings).
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_right
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ABSENT",
    "DEFAULT_BUDGET",
    "INF",
    "Inconclusive",
    "InconclusiveError",
    "KeyViolation",
    "Op",
    "PendingOp",
    "Recorder",
    "Result",
    "cas",
    "check",
    "check_key",
    "delete",
    "read",
    "write",
]

INF = math.inf
DEFAULT_BUDGET = 2_000_000
"""Model steps per key (roughly 1-2 s of CPU) before a key is declared inconclusive.
A violating key may spend up to twice this (the second half finds its shortest
failing prefix)."""

Kind = Literal["read", "write", "cas", "delete"]
Outcome = Literal["ok", "failed", "not_found", "unknown"]


class _Absent:
    _inst: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "ABSENT"

    def __reduce__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""Observed / initial state of a key that does not exist."""


# --------------------------------------------------------------------------- operations


@dataclass(frozen=True, slots=True)
class Op:
    """One client operation on one key.

    ``value``: for write/cas the value written; for a successful read the value seen.
    ``revision``: for ok write/cas/delete the new revision; for an ok read the key's
    mod revision seen; for a failed cas/delete the current revision the store reported
    (0 = absent), or None if not recorded.  ``None`` on ok changes means "not recorded".
    ``prev_revision``: the compare of a cas (required) or conditional delete.
    """

    kind: Kind
    key: str
    outcome: Outcome = "unknown"
    client: Hashable = 0
    invoke: float = 0.0
    complete: float = INF
    value: Any = None
    revision: int | None = None
    prev_revision: int | None = None

    def describe(self) -> str:
        who = f"c{self.client} "
        end = "inf" if self.complete == INF else f"{self.complete:.3f}"
        span = f" [{self.invoke:.3f}, {end}]"
        cond = "" if self.prev_revision is None else f" if rev=={self.prev_revision}"
        if self.kind == "read":
            head = f"read {self.key!r}"
        elif self.kind == "delete":
            head = f"delete {self.key!r}{cond}"
        else:
            head = f"{self.kind} {self.key!r}={self.value!r}{cond}"
        o = self.outcome
        if o == "unknown":
            tail = "? (unknown outcome)"
        elif self.kind == "read":
            tail = "absent" if o == "not_found" else f"{self.value!r} @ rev {self.revision}"
        elif o == "ok":
            tail = "ok" + ("" if self.revision is None else f" rev {self.revision}")
        elif o == "failed":
            tail = "failed" + ("" if self.revision is None else f" (current rev {self.revision})")
        else:
            tail = "not found"
        return f"{who}{head} -> {tail}{span}"


def _outcome(outcome: Outcome | None, complete: float) -> Outcome:
    if outcome is not None:
        return outcome
    return "unknown" if complete == INF else "ok"


def read(key: str, observed: Any, *, client: Hashable = 0, invoke: float, complete: float = INF) -> Op:
    """A read that observed ``ABSENT`` or ``(value, revision)`` (revision may be None)."""
    if complete == INF:
        return Op("read", key, "unknown", client, invoke, complete)
    if observed is ABSENT:
        return Op("read", key, "not_found", client, invoke, complete)
    if not (isinstance(observed, tuple) and len(observed) == 2):
        raise TypeError(f"observed must be ABSENT or (value, revision), got {observed!r}")
    value, revision = observed
    return Op("read", key, "ok", client, invoke, complete, value=value, revision=revision)


def write(
    key: str,
    value: Any,
    *,
    revision: int | None = None,
    client: Hashable = 0,
    invoke: float,
    complete: float = INF,
    outcome: Outcome | None = None,
) -> Op:
    """An unconditional put: ok (finite ``complete``) or unknown (``complete`` = INF)."""
    return Op(
        "write", key, _outcome(outcome, complete), client, invoke, complete, value=value, revision=revision
    )


def cas(
    key: str,
    value: Any,
    prev_revision: int,
    *,
    outcome: Outcome | None = None,
    revision: int | None = None,
    client: Hashable = 0,
    invoke: float,
    complete: float = INF,
) -> Op:
    """Put if the key's revision == ``prev_revision`` (0 = absent).

    ``outcome`` defaults to ok/unknown by ``complete``; for ``failed``, ``revision`` is
    the current revision the store reported (optional)."""
    return Op(
        "cas",
        key,
        _outcome(outcome, complete),
        client,
        invoke,
        complete,
        value=value,
        revision=revision,
        prev_revision=prev_revision,
    )


def delete(
    key: str,
    *,
    outcome: Outcome | None = None,
    revision: int | None = None,
    prev_revision: int | None = None,
    client: Hashable = 0,
    invoke: float,
    complete: float = INF,
) -> Op:
    """Delete (optionally conditional): ok(revision) / not_found / failed / unknown."""
    return Op(
        "delete",
        key,
        _outcome(outcome, complete),
        client,
        invoke,
        complete,
        revision=revision,
        prev_revision=prev_revision,
    )


# --------------------------------------------------------------------------- recorder


class PendingOp:
    """An invoked operation awaiting its outcome; use as a context manager so that an
    exception (timeout, connection error, cancellation) leaves it ``unknown``."""

    def __init__(
        self,
        rec: Recorder,
        slot: int,
        kind: Kind,
        key: str,
        client: Hashable,
        value: Any = None,
        prev_revision: int | None = None,
    ) -> None:
        self._rec, self._slot = rec, slot
        self.kind, self.key, self.client = kind, key, client
        self.value, self.prev_revision = value, prev_revision
        self.invoke = time.monotonic()
        self.done = False

    def _finish(self, outcome: Outcome, value: Any = None, revision: int | None = None) -> None:
        if self.done:
            raise RuntimeError("operation already completed")
        complete = INF if outcome == "unknown" else time.monotonic()
        if self.kind != "read":
            value = self.value
        op = Op(
            self.kind,
            self.key,
            outcome,
            self.client,
            self.invoke,
            complete,
            value=value,
            revision=revision,
            prev_revision=self.prev_revision,
        )
        self.done = True
        self._rec._complete(self._slot, op)

    def ok(self, revision: int | None = None) -> None:
        """write/cas/delete succeeded with ``revision``."""
        if self.kind == "read":
            raise TypeError("use found()/absent() for reads")
        self._finish("ok", revision=revision)

    def found(self, value: Any, revision: int | None) -> None:
        """read returned ``value`` at mod revision ``revision``."""
        if self.kind != "read":
            raise TypeError("found() is for reads")
        self._finish("ok", value=value, revision=revision)

    def absent(self) -> None:
        """read or delete answered 404."""
        if self.kind not in ("read", "delete"):
            raise TypeError("absent() is for reads and deletes")
        self._finish("not_found")

    not_found = absent

    def failed(self, current_revision: int | None = None) -> None:
        """cas / conditional delete: the compare did not hold (409)."""
        if self.kind not in ("cas", "delete") or self.prev_revision is None:
            raise TypeError("failed() is for cas and conditional deletes")
        self._finish("failed", revision=current_revision)

    def unknown(self) -> None:
        """Outcome unknown (timeout, connection error): may or may not have applied."""
        self._finish("unknown")

    def __enter__(self) -> PendingOp:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.done:
            self.unknown()


class Recorder:
    """Thread-safe history recorder.  Operations never completed count as unknown."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: list[Op | PendingOp] = []

    def _begin(
        self, kind: Kind, client: Hashable, key: str, value: Any = None, prev_revision: int | None = None
    ) -> PendingOp:
        with self._lock:
            slot = len(self._ops)
            p = PendingOp(self, slot, kind, key, client, value, prev_revision)
            self._ops.append(p)
            return p

    def _complete(self, slot: int, op: Op) -> None:
        with self._lock:
            self._ops[slot] = op

    def read(self, client: Hashable, key: str) -> PendingOp:
        return self._begin("read", client, key)

    def write(self, client: Hashable, key: str, value: Any) -> PendingOp:
        return self._begin("write", client, key, value)

    def cas(self, client: Hashable, key: str, value: Any, prev_revision: int) -> PendingOp:
        return self._begin("cas", client, key, value, prev_revision)

    def delete(self, client: Hashable, key: str, prev_revision: int | None = None) -> PendingOp:
        return self._begin("delete", client, key, None, prev_revision)

    def answered(self) -> int:
        """How many operations have had a definite answer so far (unknown and pending ones not)."""
        with self._lock:
            return sum(1 for o in self._ops if isinstance(o, Op) and o.outcome != "unknown")

    def history(self) -> list[Op]:
        with self._lock:
            out = []
            for o in self._ops:
                if isinstance(o, PendingOp):
                    o = Op(
                        o.kind,
                        o.key,
                        "unknown",
                        o.client,
                        o.invoke,
                        INF,
                        value=o.value,
                        prev_revision=o.prev_revision,
                    )
                out.append(o)
            return out


# --------------------------------------------------------------------------- results


@dataclass
class KeyViolation:
    """A key whose sub-history is not linearizable (or a cross-key revision anomaly,
    ``key == "*"``, ``kind == "revision-order"``)."""

    key: str
    explanation: str
    culprit: Op | None = None
    """The operation whose completion first makes the history non-linearizable."""
    prefix: list[Op] = field(default_factory=list)
    """Operations of the shortest non-linearizable prefix of the key's history."""
    linearized: list[Op] = field(default_factory=list)
    """Longest partial linearization found for that prefix."""
    pending: list[Op] = field(default_factory=list)
    """Operations that could not be linearized next after ``linearized``."""
    kind: str = "linearizability"

    def __str__(self) -> str:
        return f"key {self.key!r}: {self.explanation}"


@dataclass
class Inconclusive:
    key: str
    steps: int
    explanation: str


class InconclusiveError(AssertionError):
    """The step budget ran out before a verdict (no violation found so far)."""


@dataclass
class Result:
    ok: bool
    violations: list[KeyViolation]
    checked_keys: list[str]
    ops: int
    inconclusive: list[Inconclusive] = field(default_factory=list)
    steps: int = 0
    witness: dict[str, list[Op]] = field(default_factory=dict)
    """For each linearizable key, one linearization (optional ops that were not needed
    are omitted)."""

    def report(self) -> str:
        lines = [
            f"{len(self.checked_keys)} keys, {self.ops} ops, {self.steps} steps: "
            + (
                "linearizable"
                if self.ok
                else f"{len(self.violations)} violation(s), {len(self.inconclusive)} inconclusive"
            )
        ]
        lines += [str(v) for v in self.violations]
        lines += [
            f"key {i.key!r}: INCONCLUSIVE after {i.steps} steps: {i.explanation}" for i in self.inconclusive
        ]
        return "\n".join(lines)

    def assert_ok(self) -> None:
        if self.violations:
            raise AssertionError(self.report())
        if self.inconclusive:
            raise InconclusiveError(self.report())


# --------------------------------------------------------------------------- model

_READ, _WRITE, _CAS, _DELETE = 0, 1, 2, 3
_KINDS = {"read": _READ, "write": _WRITE, "cas": _CAS, "delete": _DELETE}
_OK, _FAILED, _NOTFOUND, _UNKNOWN = 0, 1, 2, 3
_OUTCOMES = {"ok": _OK, "failed": _FAILED, "not_found": _NOTFOUND, "unknown": _UNKNOWN}

# State: (present, frozen value, rev, floor).
#   present with rev known:   floor == rev.
#   present with rev unknown: rev is None, the true revision is some integer >= floor.
#   absent:                   value/rev None; the last change's revision is >= floor.
# "floor" is the smallest value the key's latest revision can have; every later change
# needs a revision > floor.  A lower floor is always at least as permissive.
_State = tuple[bool, Any, "int | None", int]


def _freeze(v: Any) -> Any:
    """Hashable, equality-preserving image of a JSON-ish value."""
    if isinstance(v, bool):
        return ("__bool__", v)
    if isinstance(v, dict):
        return ("__dict__", tuple(sorted((str(k), _freeze(x)) for k, x in v.items())))
    if isinstance(v, list | tuple):
        return ("__list__", tuple(_freeze(x) for x in v))
    if isinstance(v, set | frozenset):
        return ("__set__", frozenset(_freeze(x) for x in v))
    return v


class _Item:
    __slots__ = ("comp", "idx", "inv", "kind", "op", "out", "prev", "required", "rev", "uncond", "val")

    def __init__(self, op: Op, idx: int, required: bool, out: int | None = None) -> None:
        self.op, self.idx, self.required = op, idx, required
        self.kind = _KINDS[op.kind]
        self.out = _OUTCOMES[op.outcome] if out is None else out
        self.val = _freeze(op.value)
        self.rev = op.revision
        self.prev = op.prev_revision
        self.inv = op.invoke
        self.comp = op.complete if required else INF
        # optional unconditional change: never useful right after another optional op
        self.uncond = (not required) and (self.kind == _WRITE or (self.kind == _DELETE and self.prev is None))


def _compare(s: _State, p: int) -> tuple[_State | None, bool]:
    """(state refined by assuming ``rev == p`` held, or None if impossible; whether the
    compare can fail)."""
    present, val, rev, floor = s
    if not present:
        return (s if p == 0 else None), p != 0
    if rev is None:  # unknown revision u >= floor: u == p possible iff p >= floor
        return ((True, val, p, p) if p >= floor else None), True
    return (s if rev == p else None), rev != p


def _change(s: _State, it: _Item, present: bool) -> _State | None:
    floor = s[3]
    r = it.rev if it.out == _OK else None
    if r is not None:
        if r <= floor:
            return None
        return (True, it.val, r, r) if present else (False, None, None, r)
    return (True, it.val, None, floor + 1) if present else (False, None, None, floor + 1)


def _failed_compare(s: _State, it: _Item) -> _State | None:
    _, can_fail = _compare(s, it.prev)
    if not can_fail:
        return None
    c = it.rev
    if c is None:
        return s
    if c == it.prev:
        return None
    present, val, rev, floor = s
    if not present:
        return s if c == 0 else None
    if rev is None:
        return (True, val, c, c) if c >= floor else None
    return s if c == rev else None


def _step(s: _State, it: _Item) -> _State | None:
    """The state after ``it`` takes effect at ``s``, or None if its answer is impossible
    there.  An optional (unknown) op that would be a no-op also returns None: leaving
    it out is equivalent."""
    k, o = it.kind, it.out
    if k == _READ:
        if o == _NOTFOUND:
            return None if s[0] else s
        present, val, rev, floor = s
        if not present or val != it.val:
            return None
        r = it.rev
        if r is None:
            return s
        if rev is None:
            return (True, val, r, r) if r >= floor else None
        return s if r == rev else None
    if k == _WRITE:
        return _change(s, it, True)
    if k == _CAS:
        if o == _FAILED:
            return _failed_compare(s, it)
        held, _ = _compare(s, it.prev)
        return None if held is None else _change(held, it, True)
    # delete
    if o == _NOTFOUND:
        return None if s[0] else s
    if o == _FAILED:
        return _failed_compare(s, it)
    if it.prev is None:
        return _change(s, it, False) if s[0] else None
    held, _ = _compare(s, it.prev)
    return _change(held, it, False) if held is not None and held[0] else None


class _Anon:
    def __repr__(self) -> str:
        return "<a value no read reports>"


_ANON: Any = _Anon()


class _Display:
    def __init__(self, items: Iterable[_Item]) -> None:
        self.orig: dict[Any, Any] = {_ANON: _ANON}
        for it in items:
            self.orig.setdefault(it.val, it.op.value)

    def state(self, s: _State) -> str:
        present, val, rev, floor = s
        if not present:
            return "absent" + (f" (last change at rev >= {floor})" if floor else "")
        v = repr(self.orig.get(val, val))
        return f"{v} @ rev {rev}" if rev is not None else f"{v} @ rev ? (>= {floor})"

    def why(self, s: _State, it: _Item) -> str:
        """Why ``it`` cannot take effect at ``s`` (mirrors _step)."""
        st = self.state(s)
        present, _val, rev, floor = s
        k, o = it.kind, it.out
        rcur = "0 (absent)" if not present else (str(rev) if rev is not None else f"? (>= {floor})")
        if k == _READ:
            if o == _NOTFOUND:
                return f"read saw the key absent, but it holds {st}"
            if not present or _val != it.val:
                return f"read saw {it.op.value!r} @ rev {it.rev}, but the key holds {st}"
            return f"read saw revision {it.rev}, but the key's revision is {rcur}"
        if o == _FAILED:
            if it.rev is not None and it.rev == it.prev:
                return f"failed compare reported current revision {it.rev} == prev_revision"
            if _compare(s, it.prev)[1]:
                return f"failed compare reported current revision {it.rev}, but it is {rcur}"
            return f"compare (rev == {it.prev}) failed, but it holds: key is {st}"
        if k == _DELETE and o == _NOTFOUND:
            return f"delete answered not found, but the key holds {st}"
        if not it.required and o == _UNKNOWN:
            return "taking effect here would change nothing"
        if k == _CAS or (k == _DELETE and it.prev is not None):
            held, _ = _compare(s, it.prev)
            if held is None:
                return f"compare rev == {it.prev} succeeded, but the key's revision is {rcur}"
            s = held
        if k == _DELETE and not s[0]:
            return "delete succeeded, but the key is absent"
        if it.rev is not None and it.rev <= s[3]:
            return (
                f"new revision {it.rev} is not above the key's last revision "
                f"{'>= ' if s[2] is None else ''}{s[3]} (revisions must increase)"
            )
        return "not applicable"  # pragma: no cover - _step and why() disagree


# --------------------------------------------------------------------------- search


_SCAN = 32  # dominance entries scanned per lookup (most recent first)


@dataclass
class _Outcome:
    status: Literal["ok", "fail", "budget"]
    steps: int
    path: list[_Item]
    # deepest configuration reached (for explanations)
    best_path: list[_Item] = field(default_factory=list)
    best_state: _State | None = None
    best_pending: list[_Item] = field(default_factory=list)


def _search(items: list[_Item], init: _State, budget: int) -> _Outcome:
    items = sorted(items, key=lambda it: (it.inv, it.comp, it.idx))
    # Optional puts whose value no read reports behave identically whatever the value,
    # so give them one anonymous value: optional ops with equal signatures are then
    # interchangeable (below, only the first of each class is tried at a branch point).
    read_vals = {it.val for it in items if it.kind == _READ and it.out == _OK}
    sig: list[Any] = []
    for it in items:
        if not it.required and it.kind != _DELETE and it.val not in read_vals:
            it.val = _ANON
        sig.append(None if it.required else (it.kind, it.out, it.val, it.rev, it.prev))
    inv = [it.inv for it in items]
    req_mask = opt_mask = 0
    for i, it in enumerate(items):
        if it.required:
            req_mask |= 1 << i
        else:
            opt_mask |= 1 << i
    comp_order = sorted((i for i, it in enumerate(items) if it.required), key=lambda i: items[i].comp)
    comp_vals = [items[i].comp for i in comp_order]
    nreq = len(comp_order)
    steps = 0
    failed: set[tuple[int, _State, bool]] = set()

    # failure cache with dominance: (required set, present, value, rev) -> [(opt set,
    # floor, after_optional)].  A failed entry dominates a configuration with the same
    # key, a superset of optional ops linearized (fewer left), a floor at least as high
    # and a flag at least as restrictive: anything the latter could do, the former could.
    cache: dict[tuple[int, bool, Any, int | None], list[tuple[int, int, bool]]] = {}

    def dominated(lin: int, st: _State, flag: bool) -> bool:
        if (lin, st, False) in failed or (flag and (lin, st, True) in failed):
            return True
        lst = cache.get((lin & req_mask, st[0], st[1], st[2]))
        if lst:
            s_opt, f = lin & opt_mask, st[3]
            # only the most recent entries: nearly all hits, bounded cost
            for o0, f0, fl0 in reversed(lst[-_SCAN:]):
                if not (o0 & ~s_opt) and f0 <= f and fl0 <= flag:
                    return True
        return False

    def remember(lin: int, st: _State, flag: bool) -> None:
        failed.add((lin, st, flag))
        if not opt_mask:
            return
        key = (lin & req_mask, st[0], st[1], st[2])
        s_opt, f = lin & opt_mask, st[3]
        lst = cache.get(key)
        if lst is None:
            cache[key] = [(s_opt, f, flag)]
            return
        # keep an antichain: drop recent entries the new one dominates
        tail = [e for e in lst[-_SCAN:] if (s_opt & ~e[0]) or f > e[1] or flag > e[2]]
        lst[-_SCAN:] = tail
        lst.append((s_opt, f, flag))

    def expand(lin: int, st: _State, flag: bool, cp: int) -> tuple[list, int] | None:
        """Children of a configuration, or None if every required op is linearized."""
        nonlocal steps
        while cp < nreq and (lin >> comp_order[cp]) & 1:
            cp += 1
        if cp == nreq:
            return None
        k = bisect_right(inv, comp_vals[cp])
        cand = ((1 << k) - 1) & ~lin
        children: list[tuple[int, _State]] = []
        m = cand & req_mask
        while m:
            low = m & -m
            m ^= low
            i = low.bit_length() - 1
            ns = _step(st, items[i])
            steps += 1
            if ns is None:
                continue
            if ns == st:
                # Greedy: a state-preserving op that applies now can be moved to the front
                # of any completion (nothing pending must precede it in real time, and it
                # changes nothing), so it is the only child worth trying.
                return [(i, ns)], cp
            children.append((i, ns))
        m = cand & opt_mask
        tried = set()
        while m:
            low = m & -m
            m ^= low
            i = low.bit_length() - 1
            it = items[i]
            if flag and it.uncond:
                # [optional o1, optional unconditional put/delete o2] is dominated by [o2]
                # alone (or by [] when o2 is a delete of an absent key): same contents,
                # floor no higher, o1 still available.
                continue
            # Symmetry: two pending optional ops with the same signature stay candidates
            # forever (completion +inf) and have the same effect, so any completion using
            # one maps to one using the other: try only the first.
            if sig[i] in tried:
                continue
            tried.add(sig[i])
            ns = _step(st, it)
            steps += 1
            if ns is None or ns == st:
                continue
            children.append((i, ns))
        return children, cp

    lin, st, flag = 0, init, False
    first = expand(lin, st, flag, 0)
    if first is None:
        return _Outcome("ok", steps, [])
    path: list[int] = []
    # frame: [lin, state, flag, cp, children, next child, required done]
    frames: list[list[Any]] = [[lin, st, flag, first[1], first[0], 0, 0]]
    best_done, best = -1, None
    while frames:
        fr = frames[-1]
        lin, st, flag, cp, children, pos, done = fr
        if done > best_done:
            best_done, best = done, (list(path), st, lin, cp)
        if pos >= len(children):
            remember(lin, st, flag)
            frames.pop()
            if path:
                path.pop()
            continue
        fr[5] = pos + 1
        i, ns = children[pos]
        it = items[i]
        nlin = lin | (1 << i)
        nflag = not it.required
        if dominated(nlin, ns, nflag):
            continue
        path.append(i)
        r = expand(nlin, ns, nflag, cp)
        if r is None:
            return _Outcome("ok", steps, [items[j] for j in path])
        frames.append([nlin, ns, nflag, r[1], r[0], 0, done + it.required])
        if steps > budget:
            break

    assert best is not None
    bpath, bst, blin, bcp = best
    while bcp < nreq and (blin >> comp_order[bcp]) & 1:
        bcp += 1
    pending = []
    if bcp < nreq:
        k = bisect_right(inv, comp_vals[bcp])
        pending = [items[i] for i in range(k) if not (blin >> i) & 1 and items[i].required]
        pending.sort(key=lambda it: it.comp)
    return _Outcome(
        "budget" if frames else "fail",
        steps,
        [items[j] for j in path],
        [items[j] for j in bpath],
        bst,
        pending,
    )


# --------------------------------------------------------------------------- checking


def _initial_state(initial: Any) -> _State:
    if initial is ABSENT or initial is None:
        return (False, None, None, 0)
    value, revision = initial
    return (True, _freeze(value), revision, revision)


def _validate(op: Op) -> None:
    if op.kind not in _KINDS or op.outcome not in _OUTCOMES:
        raise ValueError(f"bad op kind/outcome: {op!r}")
    if not math.isfinite(op.invoke):
        raise ValueError(f"invoke must be finite: {op!r}")
    if op.outcome == "unknown":
        return
    if not op.complete >= op.invoke or op.complete == INF:
        raise ValueError(f"completed op needs invoke <= complete < inf: {op!r}")
    if op.kind == "cas" and op.prev_revision is None:
        raise ValueError(f"cas needs prev_revision: {op!r}")
    if op.outcome == "failed" and (op.kind not in ("cas", "delete") or op.prev_revision is None):
        raise ValueError(f"only cas / conditional delete can fail: {op!r}")
    if op.outcome == "not_found" and op.kind not in ("read", "delete"):
        raise ValueError(f"only read / delete can be not_found: {op!r}")


def _items_upto(ops: Sequence[tuple[int, Op]], t: float) -> list[_Item]:
    """The key's history as observed at time ``t``: ops completed by ``t`` are required;
    ops invoked by ``t`` but not yet answered become optional (with their real answer,
    which constrains them if they are linearized).  Reads and no-op answers among the
    latter are dropped.  If the full history is linearizable, so is every such prefix."""
    out = []
    for idx, op in ops:
        if op.outcome == "unknown":
            if op.kind != "read" and op.invoke <= t:
                out.append(_Item(op, idx, False))
        elif op.complete <= t:
            out.append(_Item(op, idx, True))
        elif op.invoke <= t and op.kind != "read" and op.outcome == "ok":
            out.append(_Item(op, idx, False))
    return out


def _fmt(it: _Item) -> str:
    return f"#{it.idx} {it.op.describe()}"


def _check_one(
    key: str, ops: list[tuple[int, Op]], initial: Any, budget: int, minimize: bool
) -> tuple[str, int, Any]:
    """-> ("ok", steps, linearization) | ("violation", steps, KeyViolation)
    | ("budget", steps, Inconclusive)."""
    init = _initial_state(initial)
    items = [
        _Item(op, idx, op.outcome != "unknown")
        for idx, op in ops
        if not (op.kind == "read" and op.outcome == "unknown")
    ]
    res = _search(items, init, budget)
    steps = res.steps
    if res.status == "ok":
        return "ok", steps, [it.op for it in res.path]
    if res.status == "budget":
        return (
            "budget",
            steps,
            Inconclusive(
                key,
                steps,
                f"search budget of {budget} model steps exhausted on {len(items)} ops "
                "(too much concurrency or too many unknown-outcome ops); raise budget or "
                "shorten the history",
            ),
        )

    # Shortest failing prefix: binary search over required completion times
    # (monotone: a prefix of a linearizable history is linearizable).
    culprit_t = None
    if minimize:
        times = sorted({it.comp for it in items if it.required})
        lo, hi = 0, len(times) - 1  # times[hi] fails (full history)
        hi_res = None
        spare = budget  # all prefix searches together get one more budget
        while lo < hi:
            mid = (lo + hi) // 2
            r = _search(_items_upto(ops, times[mid]), init, spare)
            steps += r.steps
            spare -= r.steps
            if r.status == "budget":
                break
            if r.status == "fail":
                hi, hi_res = mid, r
            else:
                lo = mid + 1
        else:
            if hi_res is None:
                hi_res = _search(_items_upto(ops, times[hi]), init, max(spare, 0))
                steps += hi_res.steps
            if hi_res.status == "fail":
                culprit_t, res = times[hi], hi_res
    disp = _Display(items)
    prefix_items = _items_upto(ops, culprit_t) if culprit_t is not None else items
    culprit = None
    if culprit_t is not None:
        culprit = next(
            it for it in sorted(prefix_items, key=lambda it: it.idx) if it.required and it.comp == culprit_t
        )
    lines = []
    if culprit is not None:
        lines.append(f"not linearizable once {_fmt(culprit)} completes")
    else:
        lines.append("not linearizable")
    req_total = sum(it.required for it in prefix_items)
    lin_req = sum(it.required for it in res.best_path)
    tail = res.best_path[-6:]
    lines.append(
        f"  longest linearization covers {lin_req}/{req_total} completed ops"
        + (f"; last {len(tail)}:" if tail else "")
    )
    if len(res.best_path) > len(tail):
        lines.append("    ...")
    lines += [f"    {_fmt(it)}" for it in tail]
    assert res.best_state is not None
    lines.append(f"  key is then {disp.state(res.best_state)}; none of these can come next:")
    for it in res.best_pending[:8]:
        ns = _step(res.best_state, it)
        reason = disp.why(res.best_state, it) if ns is None else "fits here, but every continuation fails"
        lines.append(f"    {_fmt(it)}: {reason}")
    if len(res.best_pending) > 8:
        lines.append(f"    ... and {len(res.best_pending) - 8} more")
    v = KeyViolation(
        key=key,
        explanation="\n".join(lines),
        culprit=culprit.op if culprit is not None else None,
        prefix=[it.op for it in sorted(prefix_items, key=lambda it: (it.inv, it.idx))],
        linearized=[it.op for it in res.best_path],
        pending=[it.op for it in res.best_pending],
    )
    return "violation", steps, v


def _check_revisions(indexed: list[tuple[int, Op]]) -> list[KeyViolation]:
    """Cross-key checks on the global revision counter: distinct changes have distinct
    revisions, and a change invoked after another op completed has a higher revision
    than anything that op wrote or observed."""
    out: list[KeyViolation] = []
    changes = [
        (i, op) for i, op in indexed if op.kind != "read" and op.outcome == "ok" and op.revision is not None
    ]
    by_rev: dict[int, tuple[int, Op]] = {}
    for i, op in changes:
        if op.revision in by_rev:
            j, other = by_rev[op.revision]
            out.append(
                KeyViolation(
                    "*",
                    f"revision {op.revision} assigned to two changes: #{j} {other.describe()} "
                    f"and #{i} {op.describe()}",
                    culprit=op,
                    pending=[other, op],
                    kind="revision-order",
                )
            )
        else:
            by_rev[op.revision] = (i, op)
    # anything with a known revision, by completion time
    seen = sorted(
        (
            (op.complete, op.revision, i, op)
            for i, op in indexed
            if op.outcome in ("ok", "failed") and op.revision is not None
        ),
        key=lambda x: x[0],
    )
    pos, best = 0, None
    for i, op in sorted(changes, key=lambda x: x[1].invoke):
        while pos < len(seen) and seen[pos][0] < op.invoke:
            if best is None or seen[pos][1] > best[1]:
                best = seen[pos]
            pos += 1
        if best is not None and best[1] >= op.revision:
            _, r, j, prior = best
            out.append(
                KeyViolation(
                    "*",
                    f"#{i} {op.describe()} got revision {op.revision}, but #{j} "
                    f"{prior.describe()} had already completed with revision {r}",
                    culprit=op,
                    pending=[prior, op],
                    kind="revision-order",
                )
            )
            if len(out) >= 10:
                break
    return out


def check(
    history: Iterable[Op],
    *,
    budget: int = DEFAULT_BUDGET,
    initial: Mapping[str, Any] | None = None,
    global_revisions: bool = True,
    minimize: bool = True,
) -> Result:
    """Check a multi-key history.

    ``initial``: key -> ``ABSENT`` or ``(value, revision)`` before the history (default:
    every key absent).  ``global_revisions``: also check revision uniqueness / real-time
    order across keys.  ``minimize``: on a violation, find the shortest failing prefix
    (a few extra searches)."""
    indexed = list(enumerate(history))
    for _, op in indexed:
        _validate(op)
    by_key: dict[str, list[tuple[int, Op]]] = {}
    for i, op in indexed:
        by_key.setdefault(op.key, []).append((i, op))
    result = Result(ok=True, violations=[], checked_keys=sorted(by_key), ops=len(indexed))
    for key in result.checked_keys:
        status, steps, payload = _check_one(
            key, by_key[key], (initial or {}).get(key, ABSENT), budget, minimize
        )
        result.steps += steps
        if status == "ok":
            result.witness[key] = payload
        elif status == "violation":
            result.violations.append(payload)
        else:
            result.inconclusive.append(payload)
    if global_revisions:
        result.violations += _check_revisions(indexed)
    result.ok = not result.violations and not result.inconclusive
    return result


def check_key(
    ops: Iterable[Op], *, budget: int = DEFAULT_BUDGET, initial: Any = ABSENT, minimize: bool = True
) -> Result:
    """Check the history of a single key (all ops must share one key)."""
    ops = list(ops)
    keys = {op.key for op in ops}
    if len(keys) > 1:
        raise ValueError(f"check_key got several keys: {sorted(keys)}")
    init = {next(iter(keys)): initial} if keys else None
    return check(ops, budget=budget, initial=init, global_revisions=False, minimize=minimize)
