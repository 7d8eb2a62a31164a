"""Raft messages on the wire between peers: msgpack arrays (pure)."""

from __future__ import annotations

import msgpack

from .types import Entry, Message, MsgType, Snapshot, SnapshotMeta


def encode_message(m: Message) -> bytes:
    snap = None
    if m.snapshot is not None:
        snap = [m.snapshot.meta.index, m.snapshot.meta.term, m.snapshot.data]
    return msgpack.packb(
        [
            int(m.type),
            m.frm,
            m.to,
            m.term,
            m.log_term,
            m.index,
            [[e.term, e.index, e.data] for e in m.entries],
            m.commit,
            m.reject,
            m.reject_hint,
            snap,
            m.context,
        ],
        use_bin_type=True,
    )


def decode_message(data: bytes) -> Message:
    """Raise ValueError on anything that is not a well-formed message."""
    try:
        t, frm, to, term, log_term, index, entries, commit, reject, hint, snap, ctx = msgpack.unpackb(
            data, raw=False
        )
        return Message(
            type=MsgType(t),
            frm=frm,
            to=to,
            term=term,
            log_term=log_term,
            index=index,
            entries=[Entry(et, ei, bytes(ed)) for et, ei, ed in entries],
            commit=commit,
            reject=bool(reject),
            reject_hint=hint,
            snapshot=None if snap is None else Snapshot(SnapshotMeta(snap[0], snap[1]), bytes(snap[2])),
            context=bytes(ctx),
        )
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValueError(f"malformed raft message: {exc}") from exc
