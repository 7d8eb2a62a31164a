"""Pydantic v2 models of ConfigDB's wire types (see docs/configdb-protocol.md).

Response models ignore unknown fields, so a node may add fields without breaking
older clients (`NodeStatus` and `Discovery` keep them: `extra="allow"`). Stream frames
form one discriminated union on `type` (`ServerFrame`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


# ----------------------------------------------------------------------------- data


class KV(_Wire):
    """One key with its JSON value and the revision of its last modification."""

    key: str
    value: Any = None
    revision: int


class Page(_Wire):
    """One page of a prefix listing, ordered by key.

    `revision` is the store's revision the page was read at. `next` is the last key
    returned when more remain (pass it as `after`), else None. Successive pages may be
    read at different revisions: use a snapshot for one consistent image.
    """

    items: list[KV]
    revision: int
    next: str | None = None


class RevisionResult(_Wire):
    """The answer to a put or a delete: the revision the change committed at."""

    revision: int


class TxnResult(_Wire):
    """The answer to a transaction.

    `succeeded` tells which branch ran (True: every compare held, `success` ran).
    `revision` is the new revision when the chosen branch changed something, else the
    store's current one.
    """

    succeeded: bool
    revision: int


class Compare(_Wire):
    """A transaction guard: holds when `key`'s revision equals `revision` (0 = absent).

    May be built positionally: `Compare("t/a/x", 12)`, or `Compare.absent("t/a/x")`.
    """

    key: str
    revision: int = Field(ge=0)

    def __init__(self, key: str, revision: int, **data: Any) -> None:
        super().__init__(key=key, revision=revision, **data)

    @classmethod
    def absent(cls, key: str) -> Compare:
        """A compare that holds only while `key` does not exist."""
        return cls(key, 0)

    def to_wire(self) -> dict[str, Any]:
        return {"key": self.key, "revision": self.revision}


class Op(_Wire):
    """One operation of a transaction branch. Build with `Op.put(key, value)` or `Op.delete(key)`."""

    kind: Literal["put", "delete"]
    key: str
    value: Any = None

    @classmethod
    def put(cls, key: str, value: Any) -> Op:
        """Set `key` to the JSON value `value`."""
        return cls(kind="put", key=key, value=value)

    @classmethod
    def delete(cls, key: str) -> Op:
        """Delete `key` (a no-op inside a transaction when it is absent)."""
        return cls(kind="delete", key=key)

    def to_wire(self) -> dict[str, Any]:
        if self.kind == "put":
            return {"put": self.key, "value": self.value}
        return {"delete": self.key}


# ----------------------------------------------------------------------------- status / discovery


class PeerStatus(_Wire):
    """A peer as one node sees it. `node_id` is None until the node has heard from that peer
    (a node reports its configured peers by raft address from the start)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    node_id: str | None = None
    raft: str | None = None
    reachable: bool | None = None


class NodeStatus(_Wire):
    """`GET /v1/status` of one node. `http` and `stream` are the node's own client
    addresses (the client maps an HTTP endpoint to its stream port with them)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    node_id: str
    shard: str | None = None
    region: str | None = None
    role: str | None = None
    leader_id: str | None = None
    term: int | None = None
    commit_index: int | None = None
    applied_index: int | None = None
    revision: int | None = None
    compact_revision: int | None = None
    peers: list[PeerStatus] = Field(default_factory=list)
    http: str | None = None
    stream: str | None = None


class DiscoveryNode(_Wire):
    model_config = ConfigDict(frozen=True, extra="allow")

    node_id: str
    http: str
    stream: str


class Discovery(_Wire):
    """Where a tenant or a number lives: its region, its shard and the shard's nodes."""

    model_config = ConfigDict(frozen=True, extra="allow")

    region: str
    shard: str
    nodes: list[DiscoveryNode]


class Problem(_Wire):
    """An `application/problem+json` error body."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str = "about:blank"
    title: str = ""
    status: int | None = None
    detail: str = ""


# ----------------------------------------------------------------------------- watch


class WatchEvent(_Wire):
    """One committed change. `type` is `put` or `delete` (`value` is None for a delete).

    Every key changed by one transaction has the same `revision`.
    """

    revision: int
    type: Literal["put", "delete"]
    key: str
    value: Any = None


class Resync(_Wire):
    """A full image of the watched prefix at `revision`: the caller replaces its whole
    view of the prefix with `items` (keys absent from `items` no longer exist).

    A watch yields one first when it starts without `from_revision` (`reason="initial"`)
    and again when the node answered `compacted` (`reason="compacted"`): the changes
    between the last delivered event and `revision` are no longer retained, so they are
    summarised by this image. The events that follow have revisions above `revision`.
    """

    items: list[KV]
    revision: int
    reason: Literal["initial", "compacted"]


class Progress(_Wire):
    """Yielded (when asked for) on a node's idle `progress` frame: every later event has
    a revision above `revision`, so the caller's view is current as of `revision`."""

    revision: int


WatchItem = WatchEvent | Resync | Progress


# ----------------------------------------------------------------------------- stream frames


class SnapshotFrame(_Wire):
    type: Literal["snapshot"]
    items: list[KV]


class SnapshotEndFrame(_Wire):
    type: Literal["snapshot_end"]
    revision: int


class EventsFrame(_Wire):
    type: Literal["events"]
    events: list[WatchEvent]


class ProgressFrame(_Wire):
    type: Literal["progress"]
    revision: int


class CompactedFrame(_Wire):
    type: Literal["compacted"]
    compact_revision: int
    revision: int


class ErrorFrame(_Wire):
    type: Literal["error"]
    status: int
    title: str = ""
    detail: str = ""


class ClosedFrame(_Wire):
    type: Literal["closed"]
    reason: str = ""


ServerFrame = Annotated[
    SnapshotFrame
    | SnapshotEndFrame
    | EventsFrame
    | ProgressFrame
    | CompactedFrame
    | ErrorFrame
    | ClosedFrame,
    Field(discriminator="type"),
]
