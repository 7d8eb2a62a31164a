"""ConfigDB client library (protocol: docs/configdb-protocol.md).

    from shared.configdb import ConfigDBClient, Op, Compare, Resync, WatchEvent

    with ConfigDBClient(["http://127.0.0.1:7101", "http://127.0.0.1:7102"], token) as db:
        rev = db.put("t/acme/user/1", {"name": "Ann"})
        kv = db.get("t/acme/user/1")
        db.txn([Compare("t/acme/user/1", rev)], [Op.put("idx/email/ann@acme", "1")])
        for item in db.watch("t/acme/", from_revision=rev + 1):
            ...

`AsyncConfigDBClient` has the same methods as coroutines and async iterators.
"""

from .aio import AsyncConfigDBClient, AsyncSnapshotReader, AsyncWatch
from .client import ConfigDBClient, SnapshotReader, Watch
from .errors import (
    CompareFailed,
    ConfigDBError,
    ConfigDBUnavailable,
    InvalidRequest,
    KeyNotFound,
    NotFound,
    ProtocolError,
    Unauthorized,
)
from .models import (
    KV,
    Compare,
    Discovery,
    DiscoveryNode,
    NodeStatus,
    Op,
    Page,
    PeerStatus,
    Progress,
    Resync,
    TxnResult,
    WatchEvent,
    WatchItem,
)
from .protocol import RetryPolicy
from .watch_state import PrefixView

__all__ = [
    "KV",
    "AsyncConfigDBClient",
    "AsyncSnapshotReader",
    "AsyncWatch",
    "Compare",
    "CompareFailed",
    "ConfigDBClient",
    "ConfigDBError",
    "ConfigDBUnavailable",
    "Discovery",
    "DiscoveryNode",
    "InvalidRequest",
    "KeyNotFound",
    "NodeStatus",
    "NotFound",
    "Op",
    "Page",
    "PeerStatus",
    "PrefixView",
    "Progress",
    "ProtocolError",
    "Resync",
    "RetryPolicy",
    "SnapshotReader",
    "TxnResult",
    "Unauthorized",
    "Watch",
    "WatchEvent",
    "WatchItem",
]
