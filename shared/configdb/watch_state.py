"""The watch-resume state machine and the snapshot assembler. Pure: frames in, items out.

`WatchState` follows etcd's client: it keeps `next_revision` (last delivered revision
+ 1) and every (re)connection asks for a watch from there, so the caller sees each
change exactly once, in order, across disconnects, node failures and `closed` frames.
Only a `compacted` answer makes it take a snapshot (`"op": "snapshot", "watch": true`),
delivered as a `Resync` that replaces the caller's view; the watch then goes on from the
snapshot's revision + 1 on the same connection. Events below `next_revision` are
dropped, so a replay can never duplicate.

The transports drive it:

    state = WatchState(prefix, from_revision)
    loop:  connect; send state.request(token)
           for each frame: step = state.on_frame(frame); deliver step.items;
                           if step.reconnect: (back off if step.failure) and reconnect
           on EOF / error: state.on_disconnect(); back off; reconnect
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import ConfigDBError, InvalidRequest, ProtocolError, Unauthorized
from .models import (
    KV,
    ClosedFrame,
    CompactedFrame,
    ErrorFrame,
    EventsFrame,
    Progress,
    ProgressFrame,
    Resync,
    ServerFrame,
    SnapshotEndFrame,
    SnapshotFrame,
    WatchEvent,
    WatchItem,
)
from .protocol import snapshot_request, validate_prefix, watch_request

Phase = Literal["idle", "snapshot", "watch"]


def error_from_frame(frame: ErrorFrame) -> ConfigDBError | None:
    """The error an `error` frame maps to, or None when it is a server-side failure
    (5xx) that another connection may heal."""
    text = frame.title + (f": {frame.detail}" if frame.detail else "")
    problem = frame.model_dump()
    if frame.status in (401, 403):
        return Unauthorized(f"unauthorized: {text}", status=frame.status, problem=problem)
    if 400 <= frame.status < 500:
        return InvalidRequest(f"invalid request: {text}", status=frame.status, problem=problem)
    if frame.status >= 500:
        return None
    return ProtocolError(f"unexpected error frame status {frame.status}: {text}", problem=problem)


@dataclass(slots=True)
class Step:
    """What the transport must do after one frame.

    `items` are delivered to the caller in order. `healthy` means the connection proved
    useful (reset the reconnect budget). `reconnect` means close this connection and
    open a new one with `request()`; `failure`, when set, makes that reconnect count
    against the budget (with backoff), and `rotate` prefers another node.
    """

    items: list[WatchItem] = field(default_factory=list)
    healthy: bool = False
    reconnect: bool = False
    failure: str | None = None
    rotate: bool = False


class WatchState:
    """Gap-free, duplicate-free watch over one prefix, across reconnections.

    `from_revision=None` starts with a snapshot of the prefix (yielded as
    `Resync(reason="initial")`) and watches from its revision + 1. Otherwise it watches
    from `from_revision` (every change with revision >= from_revision is delivered).
    `emit_progress=True` also delivers a `Progress` item on each `progress` frame.
    """

    def __init__(self, prefix: str, from_revision: int | None = None, *, emit_progress: bool = False) -> None:
        validate_prefix(prefix)
        if from_revision is not None and (
            isinstance(from_revision, bool) or not isinstance(from_revision, int) or from_revision < 0
        ):
            raise InvalidRequest(f"from_revision must be an int >= 0, got {from_revision!r}")
        self.prefix = prefix
        self.emit_progress = emit_progress
        self.next_revision: int | None = from_revision
        """The revision the next delivered event will have at least (last delivered + 1).
        None until the initial snapshot arrived when started without from_revision."""
        self.need_snapshot = from_revision is None
        self.last_progress_revision: int | None = None
        self._reason: Literal["initial", "compacted"] = "initial"
        self._phase: Phase = "idle"
        self._items: list[KV] = []

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def revision(self) -> int | None:
        """The revision the caller's view reflects (next_revision - 1), None before the start."""
        return None if self.next_revision is None else self.next_revision - 1

    def request(self, token: str) -> dict[str, Any]:
        """The first frame of a new connection: a snapshot+watch when a snapshot is needed,
        else a watch from `next_revision`."""
        if self.need_snapshot:
            self._phase = "snapshot"
            self._items = []
            return snapshot_request(token, self.prefix, watch=True)
        assert self.next_revision is not None
        self._phase = "watch"
        return watch_request(token, self.prefix, self.next_revision)

    def on_disconnect(self) -> None:
        """The connection ended without a frame telling why: a partial snapshot is dropped
        (it is taken again), a watch resumes from `next_revision`."""
        self._phase = "idle"
        self._items = []

    def on_frame(self, frame: ServerFrame) -> Step:
        """Advance on one node frame. Raises `Unauthorized` / `InvalidRequest` for a
        refused request and `ProtocolError` for a frame the protocol does not allow here."""
        if self._phase == "idle":
            raise ProtocolError("frame received before a request was sent")
        match frame:
            case EventsFrame():
                return self._on_events(frame)
            case ProgressFrame():
                return self._on_progress(frame)
            case SnapshotFrame():
                self._expect("snapshot", frame.type)
                self._items.extend(frame.items)
                return Step(healthy=True)
            case SnapshotEndFrame():
                self._expect("snapshot", frame.type)
                return self._on_snapshot_end(frame.revision)
            case CompactedFrame():
                self._expect("watch", frame.type)
                self._phase = "idle"
                self.need_snapshot = True
                self._reason = "compacted"
                return Step(healthy=True, reconnect=True)
            case ErrorFrame():
                err = error_from_frame(frame)
                self.on_disconnect()
                if err is not None:
                    raise err
                return Step(reconnect=True, failure=f"node error {frame.status}: {frame.title}", rotate=True)
            case ClosedFrame():
                self.on_disconnect()
                return Step(reconnect=True, failure=f"closed by node: {frame.reason or 'no reason'}")
        raise ProtocolError(f"unexpected frame {frame!r}")  # pragma: no cover

    def _expect(self, phase: Phase, kind: str) -> None:
        if self._phase != phase:
            raise ProtocolError(f"unexpected {kind!r} frame while in {self._phase} phase")

    def _on_snapshot_end(self, revision: int) -> Step:
        if self.next_revision is not None and revision + 1 < self.next_revision:
            # A lagging node's image is older than what was already delivered: taking it
            # would move the caller's view back in time. Try another node.
            self.on_disconnect()
            return Step(
                reconnect=True,
                failure=f"stale snapshot at revision {revision} (already at {self.next_revision - 1})",
                rotate=True,
            )
        resync = Resync(items=self._items, revision=revision, reason=self._reason)
        self._items = []
        self.next_revision = revision + 1
        self.need_snapshot = False
        self._phase = "watch"
        return Step(items=[resync], healthy=True)

    def _on_events(self, frame: EventsFrame) -> Step:
        self._expect("watch", frame.type)
        assert self.next_revision is not None
        previous = -1
        for ev in frame.events:
            if ev.revision < previous:
                raise ProtocolError(f"events out of order: {ev.revision} after {previous}")
            previous = ev.revision
        fresh = [ev for ev in frame.events if ev.revision >= self.next_revision]
        if fresh:
            self.next_revision = fresh[-1].revision + 1
        return Step(items=list(fresh), healthy=True)

    def _on_progress(self, frame: ProgressFrame) -> Step:
        if self._phase != "watch" or self.next_revision is None:
            return Step(healthy=True)  # progress during a snapshot says nothing about it
        self.next_revision = max(self.next_revision, frame.revision + 1)
        current = self.next_revision - 1
        self.last_progress_revision = current
        return Step(items=[Progress(revision=current)] if self.emit_progress else [], healthy=True)


class SnapshotState:
    """Assembles a one-shot snapshot (`"op": "snapshot"` without watch).

    `on_frame` returns the items a frame adds; `done` and `revision` are set by
    `snapshot_end`. Raises `Unauthorized` / `InvalidRequest` on a refusal,
    `ProtocolError` on a frame that has no place in a snapshot, and `SnapshotInterrupted`
    when the node gave up (`closed` or a 5xx `error`) so the snapshot must start over.
    """

    def __init__(self, prefix: str) -> None:
        validate_prefix(prefix)
        self.prefix = prefix
        self.done = False
        self.revision: int | None = None
        self.count = 0

    def request(self, token: str) -> dict[str, Any]:
        return snapshot_request(token, self.prefix, watch=False)

    def on_frame(self, frame: ServerFrame) -> list[KV]:
        if self.done:
            raise ProtocolError(f"unexpected {frame.type!r} frame after snapshot_end")
        match frame:
            case SnapshotFrame():
                self.count += len(frame.items)
                return list(frame.items)
            case SnapshotEndFrame():
                self.done = True
                self.revision = frame.revision
                return []
            case ProgressFrame():
                return []
            case ErrorFrame():
                err = error_from_frame(frame)
                if err is not None:
                    raise err
                raise SnapshotInterrupted(f"node error {frame.status}: {frame.title}")
            case ClosedFrame():
                raise SnapshotInterrupted(f"closed by node: {frame.reason or 'no reason'}")
        raise ProtocolError(f"unexpected {frame.type!r} frame in a snapshot")


class SnapshotInterrupted(Exception):
    """Internal: the snapshot stream ended before `snapshot_end` (retry from scratch)."""


class PrefixView:
    """A materialised view of a watched prefix, fed with watch items.

    `apply(item)` updates `items` (key → KV) and `revision`, and returns the changes as
    events: a `WatchEvent` as itself; a `Resync` as synthetic events that turn the old
    view into the new image: a `put` for each key that is new or changed (with the
    key's own revision) and a `delete` for each key that vanished (at the image's
    revision), ordered by (revision, key). A `Progress` returns nothing.
    """

    def __init__(self) -> None:
        self.items: dict[str, KV] = {}
        self.revision = 0

    def apply(self, item: WatchItem) -> list[WatchEvent]:
        match item:
            case WatchEvent():
                if item.type == "put":
                    self.items[item.key] = KV(key=item.key, value=item.value, revision=item.revision)
                else:
                    self.items.pop(item.key, None)
                self.revision = max(self.revision, item.revision)
                return [item]
            case Resync():
                fresh = {kv.key: kv for kv in item.items}
                events = [
                    WatchEvent(revision=kv.revision, type="put", key=kv.key, value=kv.value)
                    for key, kv in fresh.items()
                    if (old := self.items.get(key)) is None or old.revision != kv.revision
                ]
                events += [
                    WatchEvent(revision=item.revision, type="delete", key=key, value=None)
                    for key in self.items
                    if key not in fresh
                ]
                events.sort(key=lambda ev: (ev.revision, ev.key))
                self.items = fresh
                self.revision = item.revision
                return events
            case Progress():
                self.revision = max(self.revision, item.revision)
                return []
        raise TypeError(f"not a watch item: {item!r}")
