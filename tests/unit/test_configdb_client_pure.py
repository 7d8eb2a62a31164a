"""The ConfigDB client's pure parts, plus its transports against in-process fakes.

* frame codec: round trips, split and merged reads, oversize and malformed frames;
* request building and response mapping (status → error, problem bodies, Retry);
* failover policy: sticky rotation, backoff schedule, bounded attempts, outcome unknown;
* the watch-resume state machine driven with scripted frame sequences;
* the sync and asyncio clients over httpx.MockTransport (HTTP) and a scripted TCP
  stream server speaking real frames (watch resume across a dropped connection).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from shared.configdb import (
    KV,
    AsyncConfigDBClient,
    Compare,
    CompareFailed,
    ConfigDBClient,
    ConfigDBError,
    ConfigDBUnavailable,
    InvalidRequest,
    KeyNotFound,
    NotFound,
    Op,
    PrefixView,
    Progress,
    ProtocolError,
    Resync,
    Unauthorized,
    WatchEvent,
)
from shared.configdb.frames import (
    MAX_CLIENT_FRAME,
    FrameDecoder,
    decode_payload,
    encode_frame,
    parse_server_frame,
)
from shared.configdb.models import ServerFrame
from shared.configdb.protocol import (
    Attempts,
    EndpointRotation,
    Retry,
    RetryPolicy,
    build_delete,
    build_discovery,
    build_get,
    build_list,
    build_put,
    build_txn,
    interpret_response,
    key_path,
    parse_stream_address,
    validate_key,
)
from shared.configdb.watch_state import SnapshotInterrupted, SnapshotState, WatchState

# ============================================================================ frames


def _raw(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def test_frame_round_trip_byte_by_byte() -> None:
    frames = [
        {"type": "snapshot", "items": [{"key": "t/a/é", "value": {"x": [1, 2.5, None]}, "revision": 3}]},
        {"type": "snapshot_end", "revision": 3},
        {"type": "events", "events": [{"revision": 4, "type": "delete", "key": "t/a/é", "value": None}]},
        {"type": "progress", "revision": 4},
    ]
    wire = b"".join(encode_frame(f) for f in frames)
    dec = FrameDecoder()
    got: list[ServerFrame] = []
    for i in range(len(wire)):
        got.extend(dec.feed(wire[i : i + 1]))
    assert [g.model_dump() for g in got] == frames
    assert dec.buffered == 0


def test_frames_merged_in_one_read_and_split_header() -> None:
    a, b = encode_frame({"type": "progress", "revision": 1}), encode_frame({"type": "closed", "reason": "x"})
    dec = FrameDecoder()
    assert [f.type for f in dec.feed(a + b[:2])] == ["progress"]
    assert dec.buffered == 2
    assert [f.type for f in dec.feed(b[2:])] == ["closed"]


def test_client_frame_size_limit() -> None:
    ok = encode_frame({"p": "x" * (MAX_CLIENT_FRAME - 100)})
    assert len(ok) <= MAX_CLIENT_FRAME + 4
    with pytest.raises(ProtocolError, match="exceeds"):
        encode_frame({"p": "x" * MAX_CLIENT_FRAME})


def test_oversize_header_is_refused_before_the_payload_arrives() -> None:
    dec = FrameDecoder(max_size=1024)
    with pytest.raises(ProtocolError, match="exceeds the 1024-byte limit"):
        dec.feed(struct.pack(">I", 1025))


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (b"", "invalid JSON"),
        (b"{not json", "invalid JSON"),
        (b'{"type": "progress", "revision": 1', "invalid JSON"),
        (b'"\xff\xfe"', "invalid JSON"),  # invalid UTF-8
        (b"[1, 2]", "expected a JSON object"),
        (b'{"type": "nope"}', "malformed 'nope' frame"),
        (b'{"type": "progress"}', "malformed 'progress' frame: .*revision"),
        (b'{"type": "events", "events": [{"revision": "x"}]}', "malformed 'events' frame"),
        (b'{"no_type": 1}', "malformed None frame"),
    ],
)
def test_malformed_frames_raise_protocol_error(payload: bytes, match: str) -> None:
    with pytest.raises(ProtocolError, match=match):
        FrameDecoder().feed(_raw(payload))


def test_decode_payload_and_parse_are_separable() -> None:
    obj = decode_payload(b'{"type":"compacted","compact_revision":5,"revision":9,"extra":1}')
    frame = parse_server_frame(obj)
    assert frame.type == "compacted"
    assert (frame.compact_revision, frame.revision) == (5, 9)


# ============================================================================ requests & responses


def test_key_validation() -> None:
    assert validate_key("t/a/b") == "t/a/b"
    for bad in ["", "x" * 1025, "a\x00b", "a\nb", "a\x7fb", "é" * 513]:
        with pytest.raises(InvalidRequest):
            validate_key(bad)
    assert isinstance(InvalidRequest("x"), ValueError)


def test_key_path_encodes_one_segment() -> None:
    assert key_path("t/abc/user 1") == "/v1/kv/t%2Fabc%2Fuser%201"
    assert key_path("..") == "/v1/kv/%2E%2E"
    assert key_path("a?b#c") == "/v1/kv/a%3Fb%23c"


def test_put_request_carries_request_id_and_compare() -> None:
    spec = build_put("t/a/x", {"v": 1}, prev_revision=0)
    assert spec.method == "PUT" and spec.write
    assert spec.params["prev_revision"] == "0"
    assert len(spec.params["request_id"]) == 32
    assert orjson.loads(spec.body or b"") == {"v": 1}
    assert build_put("k", 1, request_id="rid-1").params["request_id"] == "rid-1"
    assert build_put("k", 1).params["request_id"] != build_put("k", 1).params["request_id"]
    assert "prev_revision" not in build_delete("k").params


def test_put_refuses_bad_values_locally() -> None:
    with pytest.raises(InvalidRequest, match="exceeds"):
        build_put("k", "x" * (1024 * 1024))
    with pytest.raises(InvalidRequest, match="not JSON"):
        build_put("k", {1, 2})
    with pytest.raises(InvalidRequest, match="prev_revision"):
        build_put("k", 1, prev_revision=-1)


def test_list_and_discovery_arguments() -> None:
    spec = build_list("t/", limit=10, after="t/b", consistent=True)
    assert spec.params == {"prefix": "t/", "limit": "10", "after": "t/b", "consistent": "true"}
    assert build_list("")  # the empty prefix means every key
    with pytest.raises(InvalidRequest):
        build_list("t/", limit=0)
    with pytest.raises(InvalidRequest):
        build_list("t/", limit=10_001)
    with pytest.raises(InvalidRequest):
        build_discovery()
    with pytest.raises(InvalidRequest):
        build_discovery(tenant="a", number="+1")
    assert build_discovery(number="+15551234567").params == {"number": "+15551234567"}


def test_txn_wire_format() -> None:
    spec = build_txn(
        [Compare("t/a", 3), ("t/b", 0)],
        [Op.put("t/a", {"n": 1}), Op.delete("t/b")],
        [Op.put("t/c", None)],
        request_id="r1",
    )
    assert orjson.loads(spec.body or b"") == {
        "compare": [{"key": "t/a", "revision": 3}, {"key": "t/b", "revision": 0}],
        "success": [{"put": "t/a", "value": {"n": 1}}, {"delete": "t/b"}],
        "failure": [{"put": "t/c", "value": None}],
        "request_id": "r1",
    }
    assert Compare.absent("k").revision == 0
    with pytest.raises(InvalidRequest):
        build_txn([], [{"put": "x"}], [])  # type: ignore[list-item]


def _problem(status: int, **extra: Any) -> bytes:
    return orjson.dumps({"type": "about:blank", "title": "T", "status": status, "detail": "D", **extra})


def test_interpret_success_and_malformed_success() -> None:
    spec = build_get("t/a")
    kv = interpret_response(spec, 200, {}, b'{"key":"t/a","value":[1],"revision":7}')
    assert kv == KV(key="t/a", value=[1], revision=7)
    assert interpret_response(build_put("k", 1), 200, {}, b'{"revision": 9}') == 9
    with pytest.raises(ProtocolError, match="revision"):
        interpret_response(spec, 200, {}, b'{"key":"t/a","value":1}')
    with pytest.raises(ProtocolError):
        interpret_response(spec, 200, {}, b"<html>")


def test_error_mapping() -> None:
    with pytest.raises(KeyNotFound) as nf:
        interpret_response(build_get("t/a"), 404, {}, _problem(404))
    assert nf.value.key == "t/a" and nf.value.status == 404 and str(nf.value) == "not found: t/a"

    with pytest.raises(CompareFailed) as cf:
        interpret_response(build_put("t/a", 1, prev_revision=2), 409, {}, _problem(409, revision=5))
    assert (cf.value.key, cf.value.revision, cf.value.status) == ("t/a", 5, 409)

    with pytest.raises(CompareFailed) as cf0:
        interpret_response(build_delete("t/a", prev_revision=2), 409, {}, _problem(409, revision=0))
    assert cf0.value.revision == 0

    for status in (400, 413, 422):
        with pytest.raises(InvalidRequest) as ir:
            interpret_response(build_put("k", 1), status, {}, _problem(status))
        assert ir.value.status == status and "T: D" in str(ir.value)

    with pytest.raises(Unauthorized):
        interpret_response(build_get("k"), 401, {}, _problem(401))

    with pytest.raises(NotFound) as dn:
        interpret_response(build_discovery(number="+1"), 404, {}, _problem(404))
    assert not isinstance(dn.value, KeyNotFound)

    body = orjson.dumps(
        {"type": "https://configdb/errors/invalid-key", "title": "Invalid key", "status": 400}
    )
    with pytest.raises(InvalidRequest) as typed:
        interpret_response(build_get("k"), 400, {}, body)
    assert typed.value.error_id == "invalid-key"
    assert typed.value.problem is not None and typed.value.problem["title"] == "Invalid key"


def test_retryable_statuses() -> None:
    spec = build_get("k")
    r503 = interpret_response(spec, 503, {"retry-after": "1"}, _problem(503))
    assert isinstance(r503, Retry) and r503.status == 503 and r503.retry_after == 1.0
    for status in (500, 502, 504, 429, 408):
        assert isinstance(interpret_response(spec, status, {}, b"gateway says no"), Retry)
    r = interpret_response(spec, 502, {"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, b"")
    assert isinstance(r, Retry) and r.retry_after is None


# ============================================================================ failover policy


def test_rotation_is_sticky_and_advances_once() -> None:
    rot = EndpointRotation(["a", "b", "c"])
    assert rot.current == "a"
    assert rot.advance(0) == 1
    assert rot.advance(0) == 1  # someone else already moved on
    assert rot.advance(1) == 2
    assert rot.advance(2) == 0
    with pytest.raises(ValueError):
        EndpointRotation([])


def test_backoff_schedule() -> None:
    pol = RetryPolicy(retries=10, backoff_base=0.1, backoff_max=0.5, jitter=False)
    # three endpoints: the first pass over the others is immediate, then exponential
    delays = [pol.delay(f, 3, switched=True) for f in range(1, 8)]
    assert delays == [0.0, 0.0, 0.1, 0.2, 0.4, 0.5, 0.5]
    # one endpoint: backoff from the first failure
    assert [pol.delay(f, 1, switched=False) for f in range(1, 4)] == [0.1, 0.2, 0.4]
    # Retry-After raises the delay, capped at backoff_max
    assert pol.delay(1, 3, switched=True, retry_after=0.3) == 0.0  # untried endpoints first
    assert pol.delay(3, 3, switched=True, retry_after=0.3) == 0.3
    assert pol.delay(3, 3, switched=True, retry_after=30) == 0.5
    assert pol.delay(1, 1, switched=False, retry_after=0.3) == 0.3
    jit = RetryPolicy(backoff_base=0.1, backoff_max=1.0)
    assert jit.delay(1, 1, switched=False, rand=lambda: 0.0) == pytest.approx(0.05)


def test_attempts_are_bounded_and_rotate() -> None:
    rot = EndpointRotation(["a", "b", "c"])
    att = Attempts(rot, RetryPolicy(retries=3, jitter=False), what="GET /x")
    seen = [att.endpoint]
    for _ in range(3):
        att.failed("refused")
        seen.append(att.endpoint)
    assert seen == ["a", "b", "c", "a"]
    with pytest.raises(ConfigDBUnavailable) as exc:
        att.failed("refused")
    assert exc.value.attempts == 4 and not exc.value.outcome_unknown
    assert "GET /x failed after 4 attempts" in str(exc.value)


def test_attempts_reset_on_success_and_report_unknown_outcome() -> None:
    att = Attempts(EndpointRotation(["a", "b"]), RetryPolicy(retries=1, jitter=False), write=True)
    att.failed("refused")
    att.succeeded()
    att.failed("timeout", maybe_applied=True)
    with pytest.raises(ConfigDBUnavailable) as exc:
        att.failed("refused")
    assert exc.value.outcome_unknown
    assert "same request_id" in str(exc.value)


def test_attempts_without_rotation_stay_put() -> None:
    att = Attempts(EndpointRotation(["a", "b"]), RetryPolicy(retries=5, jitter=False))
    att.failed("closed by node", rotate=False)
    assert att.endpoint == "a"


def test_stream_address_parsing() -> None:
    assert parse_stream_address("tcp://127.0.0.1:7201") == parse_stream_address("127.0.0.1:7201")
    a = parse_stream_address("tls://[::1]:7201")
    assert (a.host, a.port, a.tls) == ("::1", 7201, True)
    assert str(a) == "tls://[::1]:7201"
    b = parse_stream_address("tcp://0.0.0.0:7201", http_endpoint="http://10.0.0.5:7101")
    assert b.host == "10.0.0.5"
    for bad in ["7201", "host:", "udp://h:1", "h:70000"]:
        with pytest.raises(ValueError):
            parse_stream_address(bad)


# ============================================================================ watch state machine


def F(obj: dict[str, Any]) -> ServerFrame:
    return parse_server_frame(obj)


def ev(rev: int, key: str, value: Any = None, kind: str = "put") -> dict[str, Any]:
    return {"revision": rev, "type": kind, "key": key, "value": value if kind == "put" else None}


def events(*evs: dict[str, Any]) -> ServerFrame:
    return F({"type": "events", "events": list(evs)})


def revs(items: list[Any]) -> list[int]:
    return [i.revision for i in items]


def test_initial_snapshot_then_watch_on_one_connection() -> None:
    st = WatchState("t/", None)
    assert st.next_revision is None
    req = st.request("tok")
    assert req == {"token": "tok", "op": "snapshot", "prefix": "t/", "watch": True}
    assert (
        st.on_frame(F({"type": "snapshot", "items": [{"key": "t/a", "value": 1, "revision": 3}]})).items == []
    )
    assert (
        st.on_frame(F({"type": "snapshot", "items": [{"key": "t/b", "value": 2, "revision": 8}]})).items == []
    )
    step = st.on_frame(F({"type": "snapshot_end", "revision": 10}))
    (resync,) = step.items
    assert isinstance(resync, Resync) and resync.reason == "initial" and resync.revision == 10
    assert [kv.key for kv in resync.items] == ["t/a", "t/b"]
    assert st.next_revision == 11
    step = st.on_frame(events(ev(11, "t/a", 5), ev(12, "t/c", 6)))
    assert revs(step.items) == [11, 12] and step.healthy and not step.reconnect
    assert st.next_revision == 13


def test_watch_from_revision_and_transaction_events_share_a_revision() -> None:
    st = WatchState("t/", 5)
    assert st.request("tok") == {"token": "tok", "op": "watch", "prefix": "t/", "from_revision": 5}
    step = st.on_frame(events(ev(5, "t/a", 1), ev(5, "t/b", 2), ev(7, "t/a", kind="delete")))
    assert [(e.revision, e.key, e.type) for e in step.items] == [
        (5, "t/a", "put"),
        (5, "t/b", "put"),
        (7, "t/a", "delete"),
    ]
    assert st.next_revision == 8


def test_disconnect_resumes_from_next_revision_and_drops_replays() -> None:
    st = WatchState("t/", 1)
    st.request("tok")
    delivered: list[int] = []
    delivered += revs(st.on_frame(events(ev(1, "t/a"), ev(2, "t/b"))).items)
    delivered += revs(st.on_frame(events(ev(4, "t/a"))).items)
    st.on_disconnect()
    assert st.request("tok")["from_revision"] == 5
    # a node that replays older revisions (defensive): nothing is delivered twice
    delivered += revs(st.on_frame(events(ev(2, "t/b"), ev(4, "t/a"))).items)
    delivered += revs(st.on_frame(events(ev(4, "t/a"), ev(5, "t/c"), ev(6, "t/d"))).items)
    assert delivered == [1, 2, 4, 5, 6]
    assert st.next_revision == 7


def test_closed_frame_resumes_from_last_seen_plus_one() -> None:
    st = WatchState("t/", 10)
    st.request("tok")
    st.on_frame(events(ev(10, "t/a"), ev(11, "t/a")))
    step = st.on_frame(F({"type": "closed", "reason": "slow listener"}))
    assert step.reconnect and step.failure == "closed by node: slow listener" and not step.rotate
    assert st.request("tok") == {"token": "tok", "op": "watch", "prefix": "t/", "from_revision": 12}


def test_compacted_takes_a_snapshot_and_resyncs() -> None:
    st = WatchState("t/", 3)
    st.request("tok")
    step = st.on_frame(F({"type": "compacted", "compact_revision": 50, "revision": 60}))
    assert step.reconnect and step.failure is None and step.healthy
    assert st.request("tok") == {"token": "tok", "op": "snapshot", "prefix": "t/", "watch": True}
    st.on_frame(F({"type": "snapshot", "items": [{"key": "t/x", "value": "v", "revision": 55}]}))
    (resync,) = st.on_frame(F({"type": "snapshot_end", "revision": 61})).items
    assert isinstance(resync, Resync) and resync.reason == "compacted" and resync.revision == 61
    assert st.next_revision == 62
    assert revs(st.on_frame(events(ev(61, "t/x"), ev(62, "t/y"))).items) == [62]
    # later disconnects go back to plain watches
    st.on_disconnect()
    assert st.request("tok")["op"] == "watch"


def test_interrupted_snapshot_is_taken_again_from_scratch() -> None:
    st = WatchState("t/", None)
    st.request("tok")
    st.on_frame(F({"type": "snapshot", "items": [{"key": "t/a", "value": 1, "revision": 3}]}))
    st.on_disconnect()
    assert st.request("tok")["op"] == "snapshot"
    st.on_frame(F({"type": "snapshot", "items": [{"key": "t/b", "value": 1, "revision": 4}]}))
    (resync,) = st.on_frame(F({"type": "snapshot_end", "revision": 4})).items
    assert isinstance(resync, Resync)
    assert [kv.key for kv in resync.items] == ["t/b"]


def test_stale_resync_snapshot_from_a_lagging_node_is_refused() -> None:
    st = WatchState("t/", 20)
    st.request("tok")
    st.on_frame(events(ev(20, "t/a"), ev(30, "t/a")))
    st.on_frame(F({"type": "compacted", "compact_revision": 31, "revision": 40}))
    st.request("tok")
    step = st.on_frame(F({"type": "snapshot_end", "revision": 25}))
    assert step.reconnect and step.rotate and step.failure and "stale" in step.failure
    assert step.items == [] and st.next_revision == 31
    assert st.request("tok")["op"] == "snapshot"


def test_progress_advances_the_resume_point() -> None:
    st = WatchState("t/", 5, emit_progress=True)
    st.request("tok")
    (p,) = st.on_frame(F({"type": "progress", "revision": 40})).items
    assert p == Progress(revision=40)
    assert st.next_revision == 41 and st.last_progress_revision == 40
    # a lagging node's progress never moves it back
    (p2,) = st.on_frame(F({"type": "progress", "revision": 10})).items
    assert p2.revision == 40 and st.next_revision == 41
    quiet = WatchState("t/", 5)
    quiet.request("tok")
    assert quiet.on_frame(F({"type": "progress", "revision": 9})).items == []
    assert quiet.last_progress_revision == 9


def test_error_frames() -> None:
    st = WatchState("t/", 1)
    st.request("tok")
    with pytest.raises(Unauthorized):
        st.on_frame(F({"type": "error", "status": 401, "title": "Unauthorized", "detail": "bad token"}))
    st.request("tok")
    with pytest.raises(InvalidRequest):
        st.on_frame(F({"type": "error", "status": 400, "title": "Bad request"}))
    st.request("tok")
    step = st.on_frame(F({"type": "error", "status": 503, "title": "Not ready"}))
    assert step.reconnect and step.rotate


def test_frames_out_of_place_are_protocol_errors() -> None:
    st = WatchState("t/", None)
    with pytest.raises(ProtocolError, match="before a request"):
        st.on_frame(events(ev(1, "t/a")))
    st.request("tok")
    with pytest.raises(ProtocolError, match="'events' frame while in snapshot"):
        st.on_frame(events(ev(1, "t/a")))
    w = WatchState("t/", 1)
    w.request("tok")
    with pytest.raises(ProtocolError, match="'snapshot_end'"):
        w.on_frame(F({"type": "snapshot_end", "revision": 3}))
    with pytest.raises(ProtocolError, match="out of order"):
        w.on_frame(events(ev(3, "t/a"), ev(2, "t/b")))


def test_watch_arguments_are_validated() -> None:
    with pytest.raises(InvalidRequest):
        WatchState("t/", -1)
    with pytest.raises(InvalidRequest):
        WatchState("a\nb", None)


def test_snapshot_state() -> None:
    st = SnapshotState("t/")
    assert st.request("tok") == {"token": "tok", "op": "snapshot", "prefix": "t/"}
    assert st.on_frame(F({"type": "snapshot", "items": [{"key": "t/a", "value": 1, "revision": 2}]}))
    assert st.on_frame(F({"type": "snapshot_end", "revision": 9})) == []
    assert st.done and st.revision == 9 and st.count == 1
    with pytest.raises(SnapshotInterrupted):
        SnapshotState("t/").on_frame(F({"type": "closed", "reason": "bye"}))
    with pytest.raises(ProtocolError):
        SnapshotState("t/").on_frame(events(ev(1, "t/a")))


def test_prefix_view_turns_resyncs_into_synthetic_events() -> None:
    view = PrefixView()
    kv = lambda k, v, r: {"key": k, "value": v, "revision": r}  # noqa: E731
    first = view.apply(
        Resync.model_validate(
            {"items": [kv("t/b", 2, 5), kv("t/a", 1, 3)], "revision": 9, "reason": "initial"}
        )
    )
    assert [(e.revision, e.type, e.key) for e in first] == [(3, "put", "t/a"), (5, "put", "t/b")]
    assert view.apply(WatchEvent(revision=10, type="put", key="t/c", value=3))[0].key == "t/c"
    # compaction: t/a unchanged, t/b changed, t/c deleted, t/d created
    later = view.apply(
        Resync.model_validate(
            {
                "items": [kv("t/a", 1, 3), kv("t/b", 20, 14), kv("t/d", 4, 12)],
                "revision": 15,
                "reason": "compacted",
            }
        )
    )
    assert [(e.revision, e.type, e.key, e.value) for e in later] == [
        (12, "put", "t/d", 4),
        (14, "put", "t/b", 20),
        (15, "delete", "t/c", None),
    ]
    assert sorted(view.items) == ["t/a", "t/b", "t/d"] and view.revision == 15
    assert view.apply(Progress(revision=20)) == [] and view.revision == 20


# ============================================================================ HTTP transport (MockTransport)


class Recorder:
    """A scripted HTTP side: `script(request) -> Response`, raising httpx errors to simulate failures."""

    def __init__(self, script: Callable[[httpx.Request], httpx.Response]) -> None:
        self.script = script
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.script(request)

    @property
    def hosts(self) -> list[str]:
        return [f"{r.url.host}:{r.url.port}" for r in self.requests]


EPS = ["http://n1:7101", "http://n2:7101", "http://n3:7101"]


def _client(rec: Recorder, **kw: Any) -> ConfigDBClient:
    kw.setdefault("backoff_base", 0.001)
    kw.setdefault("backoff_max", 0.002)
    return ConfigDBClient(EPS, "tok", transport=httpx.MockTransport(rec), **kw)


def test_failover_on_connection_error_then_sticks() -> None:
    def script(req: httpx.Request) -> httpx.Response:
        if req.url.host == "n1":
            raise httpx.ConnectError("refused", request=req)
        assert req.headers["authorization"] == "Bearer tok"
        return httpx.Response(200, json={"key": "t/a", "value": 1, "revision": 2})

    rec = Recorder(script)
    with _client(rec) as db:
        assert db.get("t/a").revision == 2
        assert db.get("t/a").revision == 2
        assert db.current_endpoint == "http://n2:7101"
    assert rec.hosts == ["n1:7101", "n2:7101", "n2:7101"]
    assert rec.requests[0].url.raw_path == b"/v1/kv/t%2Fa"


def test_503_and_5xx_move_on_and_4xx_do_not() -> None:
    codes = iter([503, 502, 200])

    def script(req: httpx.Request) -> httpx.Response:
        code = next(codes)
        return httpx.Response(code, json={"revision": 4} if code == 200 else {"title": "no leader"})

    rec = Recorder(script)
    with _client(rec) as db:
        assert db.put("t/a", 1) == 4
    assert rec.hosts == ["n1:7101", "n2:7101", "n3:7101"]

    rec404 = Recorder(lambda req: httpx.Response(404, json={"title": "Not found"}))
    with _client(rec404) as db:
        with pytest.raises(KeyNotFound):
            db.get("t/a")
        assert db.get_or_none("t/a") is None
    assert len(rec404.requests) == 2

    rec409 = Recorder(lambda req: httpx.Response(409, json={"title": "Compare failed", "revision": 7}))
    with _client(rec409) as db, pytest.raises(CompareFailed) as cf:
        db.delete("t/a", prev_revision=3)
    assert cf.value.revision == 7 and len(rec409.requests) == 1


def test_write_retries_keep_the_same_request_id() -> None:
    calls = iter(["timeout", "504", "ok"])

    def script(req: httpx.Request) -> httpx.Response:
        what = next(calls)
        if what == "timeout":
            raise httpx.ReadTimeout("slow", request=req)
        if what == "504":
            return httpx.Response(504, json={"title": "Outcome unknown"})
        return httpx.Response(200, json={"succeeded": True, "revision": 12})

    rec = Recorder(script)
    with _client(rec) as db:
        res = db.txn([Compare("t/a", 0)], [Op.put("t/a", 1)])
    assert res.succeeded and res.revision == 12
    ids = {orjson.loads(r.content)["request_id"] for r in rec.requests}
    assert len(rec.requests) == 3 and len(ids) == 1

    rec2 = Recorder(lambda req: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=req)))
    with _client(rec2, retries=2) as db, pytest.raises(ConfigDBUnavailable) as exc:
        db.put("t/a", 1, request_id="mine")
    assert exc.value.outcome_unknown and exc.value.attempts == 3
    assert {r.url.params["request_id"] for r in rec2.requests} == {"mine"}


def test_unavailable_after_bounded_attempts() -> None:
    def script(req: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=req)

    rec = Recorder(script)
    with _client(rec, retries=4) as db, pytest.raises(ConfigDBUnavailable) as exc:
        db.status()
    assert len(rec.requests) == 5 and not exc.value.outcome_unknown
    assert isinstance(exc.value, ConfigDBError)


def test_list_pages_and_unauthorized() -> None:
    pages = {
        None: {"items": [{"key": "t/a", "value": 1, "revision": 1}], "revision": 5, "next": "t/a"},
        "t/a": {"items": [{"key": "t/b", "value": 2, "revision": 2}], "revision": 6, "next": None},
    }
    rec = Recorder(lambda req: httpx.Response(200, json=pages[req.url.params.get("after")]))
    with _client(rec) as db:
        assert [kv.key for kv in db.iter_prefix("t/", page_size=1)] == ["t/a", "t/b"]
    assert rec.requests[0].url.params["limit"] == "1"

    rec401 = Recorder(lambda req: httpx.Response(401, json={"title": "Unauthorized"}))
    with _client(rec401) as db, pytest.raises(Unauthorized):
        db.list("t/")
    assert len(rec401.requests) == 1


def test_async_client_failover_and_mapping() -> None:
    def script(req: httpx.Request) -> httpx.Response:
        if req.url.host == "n1":
            raise httpx.ConnectError("refused", request=req)
        if req.url.path.endswith("missing"):
            return httpx.Response(404, json={"title": "Not found"})
        return httpx.Response(200, json={"revision": 3})

    rec = Recorder(script)

    async def run() -> None:
        async with AsyncConfigDBClient(
            EPS, "tok", transport=httpx.MockTransport(rec), backoff_base=0.001, backoff_max=0.002
        ) as db:
            assert await db.put("t/a", {"x": 1}) == 3
            assert await db.get_or_none("t/missing") is None
            with pytest.raises(KeyNotFound):
                await db.delete("t/missing")

    asyncio.run(run())
    assert rec.hosts == ["n1:7101", "n2:7101", "n2:7101", "n2:7101"]


# ============================================================================ streams (scripted TCP server)

Script = Callable[[socket.socket, dict[str, Any]], None]


class FakeStreamNode:
    """A TCP server speaking real frames: each connection reads the request frame and runs
    the next script (or closes at once when none is left). Records every request."""

    def __init__(self, scripts: list[Script]) -> None:
        self.scripts = list(scripts)
        self.requests: list[dict[str, Any]] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    (n,) = struct.unpack(">I", _recv_exact(conn, 4))
                    req = orjson.loads(_recv_exact(conn, n))
                except (OSError, ConnectionError):
                    continue
                self.requests.append(req)
                if self.scripts:
                    with contextlib.suppress(OSError):
                        self.scripts.pop(0)(conn, req)

    def close(self) -> None:
        self._stop = True
        self.sock.close()


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def send(*frames: dict[str, Any]) -> Script:
    def script(conn: socket.socket, req: dict[str, Any]) -> None:
        conn.sendall(b"".join(encode_frame(f, max_size=1 << 24) for f in frames))

    return script


def send_then_hold(*frames: dict[str, Any], hold: threading.Event) -> Script:
    def script(conn: socket.socket, req: dict[str, Any]) -> None:
        send(*frames)(conn, req)
        hold.wait(10)

    return script


@pytest.fixture
def fake_nodes() -> Iterator[Callable[[list[Script]], FakeStreamNode]]:
    made: list[FakeStreamNode] = []

    def make(scripts: list[Script]) -> FakeStreamNode:
        node = FakeStreamNode(scripts)
        made.append(node)
        return node

    yield make
    for node in made:
        node.close()


def _stream_client(streams: list[str], **kw: Any) -> ConfigDBClient:
    return ConfigDBClient(
        ["http://unused:1"],
        "tok",
        stream_endpoints=streams,
        timeout=2.0,
        backoff_base=0.001,
        backoff_max=0.01,
        **kw,
    )


def test_sync_watch_resumes_on_another_node_without_gap_or_duplicate(
    fake_nodes: Callable[[list[Script]], FakeStreamNode],
) -> None:
    hold = threading.Event()
    snap = {"type": "snapshot", "items": [{"key": "t/a", "value": 0, "revision": 2}]}
    a = fake_nodes(
        [
            # initial snapshot+watch, two events, then the node "dies" (connection drops)
            send(
                snap,
                {"type": "snapshot_end", "revision": 4},
                {"type": "events", "events": [ev(5, "t/a", 1)]},
                {"type": "events", "events": [ev(6, "t/b", 2), ev(6, "t/c", 3)]},
            ),
        ]
    )
    b = fake_nodes(
        [
            # the survivor replays 6 (must be dropped), then new events, then says closed
            send(
                {"type": "events", "events": [ev(6, "t/b", 2), ev(6, "t/c", 3), ev(7, "t/a", kind="delete")]},
                {"type": "closed", "reason": "slow listener"},
            ),
            # the same node again: resume from 8
            send_then_hold(
                {"type": "progress", "revision": 9},
                {"type": "events", "events": [ev(10, "t/d", 4)]},
                hold=hold,
            ),
        ]
    )
    db = _stream_client([a.addr, b.addr])
    got: list[Any] = []
    with db.watch("t/", progress=True) as w:
        for item in w:
            got.append(item)
            if isinstance(item, WatchEvent) and item.revision == 10:
                break
        assert w.next_revision == 11
    hold.set()
    db.close()
    assert isinstance(got[0], Resync) and got[0].revision == 4 and got[0].reason == "initial"
    assert [(type(i).__name__, i.revision) for i in got[1:]] == [
        ("WatchEvent", 5),
        ("WatchEvent", 6),
        ("WatchEvent", 6),
        ("WatchEvent", 7),
        ("Progress", 9),
        ("WatchEvent", 10),
    ]
    assert a.requests[0] == {"token": "tok", "op": "snapshot", "prefix": "t/", "watch": True}
    assert [r["from_revision"] for r in b.requests] == [7, 8]


def test_sync_watch_compacted_resync_and_refusal(
    fake_nodes: Callable[[list[Script]], FakeStreamNode],
) -> None:
    hold = threading.Event()
    node = fake_nodes(
        [
            send({"type": "compacted", "compact_revision": 20, "revision": 30}),
            send_then_hold(
                {"type": "snapshot", "items": [{"key": "t/x", "value": 1, "revision": 25}]},
                {"type": "snapshot_end", "revision": 30},
                {"type": "events", "events": [ev(31, "t/x", 2)]},
                hold=hold,
            ),
        ]
    )
    db = _stream_client([node.addr])
    w = db.watch("t/", from_revision=3)
    first, second = next(w), next(w)
    w.close()
    hold.set()
    assert isinstance(first, Resync) and first.reason == "compacted" and first.revision == 30
    assert isinstance(second, WatchEvent) and second.revision == 31
    assert [r["op"] for r in node.requests] == ["watch", "snapshot"]

    refusing = fake_nodes(
        [send({"type": "error", "status": 401, "title": "Unauthorized", "detail": "bad token"})]
    )
    with pytest.raises(Unauthorized):
        next(iter(_stream_client([refusing.addr]).watch("t/", from_revision=1)))


def test_sync_watch_gives_up_after_bounded_reconnects() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"  # bound but not listening: refused
        db = _stream_client([dead], retries=2)
        with pytest.raises(ConfigDBUnavailable, match="after 3 attempts"):
            next(db.watch("t/", from_revision=1))


def test_garbage_from_the_node_is_a_protocol_error(
    fake_nodes: Callable[[list[Script]], FakeStreamNode],
) -> None:
    def garbage(conn: socket.socket, req: dict[str, Any]) -> None:
        conn.sendall(_raw(b"this is not json"))

    node = fake_nodes([garbage])
    with pytest.raises(ProtocolError, match="invalid JSON"):
        next(_stream_client([node.addr]).watch("t/", from_revision=1))


def test_sync_snapshot_restarts_an_interrupted_transfer(
    fake_nodes: Callable[[list[Script]], FakeStreamNode],
) -> None:
    item = {"key": "t/a", "value": 1, "revision": 3}
    node = fake_nodes(
        [
            send({"type": "snapshot", "items": [item]}),  # cut before snapshot_end
            send(
                {"type": "snapshot", "items": [item]},
                {"type": "snapshot", "items": [{**item, "key": "t/b"}]},
                {"type": "snapshot_end", "revision": 7},
            ),
            send({"type": "snapshot", "items": [item]}),  # cut again, for the streaming form
        ]
    )
    db = _stream_client([node.addr])
    items, rev = db.snapshot("t/")
    assert [kv.key for kv in items] == ["t/a", "t/b"] and rev == 7
    reader = db.iter_snapshot("t/")
    assert next(reader).key == "t/a"
    with pytest.raises(ConfigDBUnavailable, match="interrupted after 1 items"):
        next(reader)


def test_async_watch_resumes_after_a_dropped_connection(
    fake_nodes: Callable[[list[Script]], FakeStreamNode],
) -> None:
    hold = threading.Event()
    a = fake_nodes([send({"type": "events", "events": [ev(3, "t/a", 1), ev(4, "t/a", 2)]})])
    b = fake_nodes(
        [send_then_hold({"type": "events", "events": [ev(4, "t/a", 2), ev(5, "t/b", 3)]}, hold=hold)]
    )

    async def run() -> list[int]:
        async with AsyncConfigDBClient(
            ["http://unused:1"], "tok", stream_endpoints=[a.addr, b.addr], timeout=2.0, backoff_base=0.001
        ) as db:
            seen: list[int] = []
            async with db.watch("t/", from_revision=3) as w:
                async for item in w:
                    seen.append(item.revision)
                    if item.revision == 5:
                        break
            return seen

    try:
        assert asyncio.run(run()) == [3, 4, 5]
    finally:
        hold.set()
    assert b.requests[0]["from_revision"] == 5


def test_stream_address_learned_from_status(fake_nodes: Callable[[list[Script]], FakeStreamNode]) -> None:
    hold = threading.Event()
    node = fake_nodes([send_then_hold({"type": "events", "events": [ev(2, "t/a", 1)]}, hold=hold)])

    def script(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/v1/status"
        return httpx.Response(200, json={"node_id": "n1", "stream": f"tcp://0.0.0.0:{node.port}"})

    db = ConfigDBClient(["http://127.0.0.1:7101"], "tok", transport=httpx.MockTransport(script), timeout=2.0)
    w = db.watch("t/", from_revision=2)
    try:
        item = next(w)
        assert isinstance(item, WatchEvent) and item.revision == 2
    finally:
        w.close()
        hold.set()


def test_client_constructor_validation() -> None:
    with pytest.raises(ValueError):
        ConfigDBClient([], "tok")
    with pytest.raises(ValueError):
        ConfigDBClient(["127.0.0.1:7101"], "tok")
    with pytest.raises(ValueError):
        ConfigDBClient(["http://a:1"], "")
    db = ConfigDBClient(["http://a:1/"], "tok")
    assert db.endpoints == ["http://a:1"]
    db.close()
