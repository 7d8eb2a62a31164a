"""The few things the baresip-python binding does not expose, done on the SIP thread.

baresip-python 0.5.2a3 gives Python a fixed command set (``BP_CMD_*``); it has no
generic "run a baresip command" entry. Two things the edge needs are missing:

* **Reject with any status.** ``Call.reject()`` always sends ``486 Busy Here``
  (the shim hard-codes ``ua_hangup(ua, call, 486, "Busy Here")``) and
  ``BP_CMD_CALL_HANGUP`` passes status 0. The edge needs 404, 403, 488, 503.
* **The INVITE's packet source and Request-URI.** Call events carry the call's
  From URI, Call-ID and allowlisted headers, never the transport source address
  (``msg->src``) nor the Request-URI.

* **Early media.** The binding can answer (200) or reject, never send ``183 Session
  Progress`` with SDP; the edge plays announcements before a final 4xx, so a refused
  caller is never billed. ``call_progress_dir(call, sendrecv, inactive)`` does it.

All are done here with ``ctypes`` against symbols the binding's own extension exports
(libre/baresip are linked into it statically and their API is exported):

* ``ua_hangup(call_get_ua(call), call, status, reason)`` — the very call the shim
  makes for ``reject()``, with our status — after ``uag_call_find(call_id)``.
* ``sip_set_trace_handler(uag_sip(), handler)`` — libre calls the handler for every
  SIP message it receives (after parsing, before any processing), with the packet's
  source address and transport. The handler records each INVITE transaction (Call-ID,
  top Via branch, CSeq and source address: a retransmission is the same transaction, an
  INVITE that reuses a Call-ID from elsewhere is not) with its transport and raw
  Request-URI/From, so the CALL_INCOMING that follows can be matched to it. A
  CALL_INCOMING takes the oldest unclaimed transaction of its Call-ID; when unclaimed
  transactions of that Call-ID come from more than one host, none is trusted (the
  INVITE has no source, so a trunk check refuses it) and ``sip_invite_source_ambiguous``
  is logged. (It replaces the binding's own trace hook, so
  ``Config.sip_trace`` has no effect while this module is installed; we log
  what matters ourselves.)

libre is single-threaded: these functions may only run on the SIP ("re") thread, and
only at a point where no baresip call processing is on the stack. The binding offers
exactly one such point: ``BP_CMD_PING``, whose handler emits ``PONG`` from the top of
the command-queue dispatcher. We wrap the binding's event sink (``baresip._events``),
and when the PONG for one of our pings passes through it — on the re thread — we run
the queued jobs there, before the PONG goes on to the runtime. Everything is pinned to
the version in pyproject.toml's ``sip-edge`` group (``baresip-python==0.5.2a3``, locked in
requirements/sip-edge.txt); if a later binding grows a ``reject(status)`` or exposes the
source address, this module should go.
"""

from __future__ import annotations

import asyncio
import collections
import ctypes
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from baresip import _events, _native
from baresip._native import lib

log = logging.getLogger("sip_edge.sip")

_so = ctypes.CDLL(_native.__file__)  # already loaded: same handle, same globals

_so.uag_call_find.restype = ctypes.c_void_p
_so.uag_call_find.argtypes = [ctypes.c_char_p]
_so.call_get_ua.restype = ctypes.c_void_p
_so.call_get_ua.argtypes = [ctypes.c_void_p]
_so.call_state.restype = ctypes.c_int
_so.call_state.argtypes = [ctypes.c_void_p]
_so.ua_hangup.restype = None
_so.ua_hangup.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint16, ctypes.c_char_p]
_so.uag_sip.restype = ctypes.c_void_p
_so.uag_sip.argtypes = []
_so.sa_ntop.restype = ctypes.c_int
_so.sa_ntop.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
_so.sa_port.restype = ctypes.c_uint16
_so.sa_port.argtypes = [ctypes.c_void_p]
_so.sip_transp_name.restype = ctypes.c_char_p
_so.sip_transp_name.argtypes = [ctypes.c_int]
_so.uag_list.restype = ctypes.c_void_p
_so.uag_list.argtypes = []
_so.ua_calls.restype = ctypes.c_void_p
_so.ua_calls.argtypes = [ctypes.c_void_p]
_so.list_head.restype = ctypes.c_void_p
_so.list_head.argtypes = [ctypes.c_void_p]
_so.call_id.restype = ctypes.c_char_p
_so.call_id.argtypes = [ctypes.c_void_p]


class _Le(ctypes.Structure):
    """libre's ``struct le`` (a list element): prev, next, list, data."""

    _fields_ = [
        ("prev", ctypes.c_void_p),
        ("next", ctypes.c_void_p),
        ("list", ctypes.c_void_p),
        ("data", ctypes.c_void_p),
    ]


def _items(lst: int | None) -> list[int]:
    """The data pointers of a libre ``struct list`` (RE THREAD)."""
    out: list[int] = []
    le = _so.list_head(lst) if lst else None
    while le:
        elem = _Le.from_address(le)
        if elem.data:
            out.append(elem.data)
        le = elem.next
    return out


def _incoming_call(call_id: bytes) -> int | None:
    """A still-ringing inbound call with this Call-ID (RE THREAD). ``uag_call_find`` returns
    the first call of that Call-ID, which may be an established one when a later INVITE
    reuses its Call-ID; this looks through every user agent's calls."""
    first = _so.uag_call_find(call_id)
    if first and _so.call_state(first) == _CALL_STATE_INCOMING:
        return int(first)
    for ua in _items(_so.uag_list()):
        for call in _items(_so.ua_calls(ua)):
            if _so.call_id(call) == call_id and _so.call_state(call) == _CALL_STATE_INCOMING:
                return call
    return None


# int call_progress_dir(struct call *call, enum sdp_dir adir, enum sdp_dir vdir): 183 with SDP
_so.call_progress_dir.restype = ctypes.c_int
_so.call_progress_dir.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]

# void (*sip_trace_h)(bool tx, enum sip_transp tp, const struct sa *src,
#                     const struct sa *dst, const uint8_t *pkt, size_t len, void *arg)
_TRACE_H = ctypes.CFUNCTYPE(
    None,
    ctypes.c_bool,
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_void_p,
)
_so.sip_set_trace_handler.restype = None
_so.sip_set_trace_handler.argtypes = [ctypes.c_void_p, _TRACE_H]

# baresip's enum call_state: IDLE, INCOMING, OUTGOING, RINGING, EARLY, ESTABLISHED, ...
_CALL_STATE_INCOMING = 1
# libre's enum sdp_dir
_SDP_INACTIVE, _SDP_SENDRECV = 0, 3

_RE_THREAD = "baresip-re"


@dataclass(frozen=True)
class InviteTrace:
    """What the trace handler saw of one received INVITE."""

    call_id: str
    branch: str
    cseq: str
    src_host: str
    src_port: int
    transport: str
    request_uri: str
    from_value: str
    seen_at: float


_HDR_COMPACT = {"i": "call-id", "f": "from", "v": "via"}
_BRANCH = re.compile(r";\s*branch\s*=\s*([^;,\s]+)", re.IGNORECASE)
_REQ_LINE = re.compile(rb"^INVITE\s+(\S+)\s+SIP/2\.0", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedInvite:
    call_id: str
    request_uri: str
    from_value: str
    branch: str  # of the top Via ("" when absent)
    cseq: str


def _parse_invite(pkt: bytes) -> ParsedInvite | None:
    """Call-ID, Request-URI, From, top Via branch and CSeq of a raw INVITE, or None."""
    head, _, _ = pkt.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    m = _REQ_LINE.match(lines[0])
    if not m:
        return None
    found: dict[str, str] = {}
    for raw in lines[1:]:
        name, sep, value = raw.partition(b":")
        if not sep:
            continue
        key = name.strip().decode("latin-1").lower()
        key = _HDR_COMPACT.get(key, key)
        if key in ("call-id", "from", "via", "cseq") and key not in found:
            found[key] = value.strip().decode("utf-8", "replace")
    if "call-id" not in found:
        return None
    branch = _BRANCH.search(found.get("via", ""))
    return ParsedInvite(
        call_id=found["call-id"],
        request_uri=m.group(1).decode("utf-8", "replace"),
        from_value=found.get("from", ""),
        branch=branch.group(1) if branch else "",
        cseq=" ".join(found.get("cseq", "").split()),
    )


TraceKey = tuple[str, str, str, str, int]  # Call-ID, branch, CSeq, source host, source port


class NativeBridge:
    """Runs jobs on the SIP thread and keeps the INVITE traces, one per transaction and source.

    One per process (like the Runtime). ``install()`` once the runtime is running.
    """

    # Traces whose CALL_INCOMING never came (baresip answered the INVITE itself:
    # 488, 486 max calls, retransmissions) are dropped after this many seconds.
    TRACE_TTL_S = 30.0
    TRACE_MAX = 4096

    def __init__(self, runtime: Any, on_invite_seen: Callable[[InviteTrace], None] | None = None):
        self._runtime = runtime
        self._jobs: collections.deque[tuple[Callable[[], Any], asyncio.Future[Any]]] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._prev_sink: Callable[..., None] | None = None
        self._traces: collections.OrderedDict[TraceKey, InviteTrace] = collections.OrderedDict()
        self._claimed: set[TraceKey] = set()
        self._traces_lock = threading.Lock()
        self._trace_cb = _TRACE_H(self._on_trace)  # kept alive for the process
        self._on_invite_seen = on_invite_seen

    # -- running code on the re thread -----------------------------------------------

    async def install(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._prev_sink = _events.set_sink(self._sink)
        if self._prev_sink is None:
            raise RuntimeError("baresip runtime is not running (no event sink)")
        sip = await self.on_re_thread(_so.uag_sip)
        if not sip:
            raise RuntimeError("baresip has no SIP stack (uag_sip() is NULL)")
        await self.on_re_thread(lambda: _so.sip_set_trace_handler(sip, self._trace_cb))

    def uninstall(self) -> None:
        if self._prev_sink is not None and _events._sink == self._sink:
            _events.set_sink(self._prev_sink)

    async def on_re_thread(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn()`` on the SIP thread at a safe point; return its result."""
        assert self._loop is not None
        fut: asyncio.Future[Any] = self._loop.create_future()
        self._jobs.append((fn, fut))
        await self._runtime.cmd(lib.BP_CMD_PING)
        # The job ran before the PONG was dispatched; its result was scheduled on the
        # loop before the PONG's, so it is normally done here already.
        return await asyncio.wait_for(fut, 2.0)

    def _sink(self, ev: int, handle: int, payload: bytes | None) -> None:
        # RE THREAD (every native event passes here). Jobs run only on PONG: that is
        # emitted from the command dispatcher's top level, never from inside baresip's
        # call processing, so freeing a call there cannot pull it from under anyone.
        if ev == lib.BP_EV_PONG and self._jobs:
            while self._jobs:
                fn, fut = self._jobs.popleft()
                try:
                    result, exc = fn(), None
                except Exception as e:  # pragma: no cover - defensive
                    result, exc = None, e
                self._resolve(fut, result, exc)
        prev = self._prev_sink
        if prev is not None:
            prev(ev, handle, payload)

    def _resolve(self, fut: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
        def done() -> None:
            if fut.done():
                return
            if exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result(result)

        assert self._loop is not None
        self._loop.call_soon_threadsafe(done)

    # -- reject with any status --------------------------------------------------------

    async def reject(self, call_id: str, status: int, reason: str) -> bool:
        """Send ``status reason`` to a still-ringing inbound call. False if it is gone."""
        cid = call_id.encode()
        text = reason.encode()

        def job() -> bool:
            call = _incoming_call(cid)
            if call is None:
                return False
            # Same as the binding's reject(), which hard-codes 486: sends the final
            # response, emits CALL_CLOSED (which frees the binding's handle slot).
            _so.ua_hangup(_so.call_get_ua(call), call, status, text)
            return True

        return bool(await self.on_re_thread(job))

    # -- early media ---------------------------------------------------------------------

    async def progress(self, call_id: str) -> bool:
        """Send ``183 Session Progress`` with an SDP answer to a still-ringing inbound call and
        start its audio (early media); the call stays unanswered, so ``reject`` still ends it
        with a final status. False if it is gone or the stack refused."""
        cid = call_id.encode()

        def job() -> bool:
            call = _incoming_call(cid)
            if call is None:
                return False
            # baresip's call_progress() with audio sendrecv, video off: sipsess_progress(183,
            # SDP) then call_update_media(), which starts the audio stream
            return int(_so.call_progress_dir(call, _SDP_SENDRECV, _SDP_INACTIVE)) == 0

        return bool(await self.on_re_thread(job))

    # -- INVITE traces -------------------------------------------------------------------

    def _on_trace(self, tx: bool, tp: int, src: int, dst: int, pkt: int, n: int, arg: int) -> None:
        # RE THREAD, for every SIP message in or out. Cheap reject of all but INVITEs.
        try:
            if tx or n < 8 or ctypes.string_at(pkt, 7).upper() != b"INVITE ":
                return
            parsed = _parse_invite(ctypes.string_at(pkt, min(n, 16384)))
            if parsed is None:
                return
            buf = ctypes.create_string_buffer(64)
            host = buf.value.decode() if _so.sa_ntop(src, buf, 64) == 0 else "?"
            name = _so.sip_transp_name(tp)
            trace = InviteTrace(
                call_id=parsed.call_id,
                branch=parsed.branch,
                cseq=parsed.cseq,
                src_host=host,
                src_port=int(_so.sa_port(src)),
                transport=(name or b"udp").decode().lower(),
                request_uri=parsed.request_uri,
                from_value=parsed.from_value,
                seen_at=time.monotonic(),
            )
            if not self.record(trace):
                return
            if self._on_invite_seen is not None:
                self._on_invite_seen(trace)
        except Exception:  # never raise into C
            log.exception("sip trace handler failed")

    @staticmethod
    def _key(t: InviteTrace) -> TraceKey:
        return (t.call_id, t.branch, t.cseq, t.src_host, t.src_port)

    def record(self, trace: InviteTrace) -> bool:
        """Keep one received INVITE; False for a retransmission of one already kept."""
        key = self._key(trace)
        with self._traces_lock:
            if key in self._traces:
                return False
            self._traces[key] = trace
            self._prune()
        return True

    def _prune(self) -> None:
        now = time.monotonic()
        while self._traces:
            first = next(iter(self._traces.values()))
            if len(self._traces) <= self.TRACE_MAX and now - first.seen_at < self.TRACE_TTL_S:
                break
            key, _ = self._traces.popitem(last=False)
            self._claimed.discard(key)

    def take_trace(self, call_id: str) -> InviteTrace | None:
        """The INVITE transaction a new inbound call of ``call_id`` came from: the oldest one
        not yet claimed, claimed now (it stays kept, so its retransmissions are recognised).
        None when there is none, or when unclaimed INVITEs of this Call-ID come from more than
        one host: which of them baresip turned into this call cannot be told, so none is
        trusted (all are claimed, and the call has no source)."""
        with self._traces_lock:
            waiting = [
                (k, t) for k, t in self._traces.items() if t.call_id == call_id and k not in self._claimed
            ]
            if not waiting:
                return None
            hosts = sorted({t.src_host for _, t in waiting})
            if len(hosts) == 1:
                key, trace = waiting[0]
                self._claimed.add(key)
                return trace
            self._claimed.update(k for k, _ in waiting)
        log.warning(
            "INVITEs reusing one Call-ID from several sources; none is trusted",
            extra={"event": "sip_invite_source_ambiguous", "sip_call_id": call_id, "sources": hosts},
        )
        return None
