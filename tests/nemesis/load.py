"""Client load and a resuming watcher for ConfigDB fault runs (test tool).

`Clients` runs threads that read (linearizable), write, compare-and-set by `prev_revision`,
compare-and-set by transaction and delete on a few keys at random nodes, recording every
operation in a `Recorder` for tests/tools/linearizability.py. One operation keeps its request
id across retries (other nodes, 503/504, timeouts) until a definite answer or its deadline
(then its outcome is unknown).

`Watcher` follows every change (prefix "") over the stream port, reconnecting to the next
node after a failure or 2 s without a frame (an idle node sends progress every 0.5 s) and
resuming from the last delivered revision + 1. It keeps what it received as delivered, so a
test can check it for gaps and duplicates.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from infra.local.configdb_cluster import LocalCluster
from tests.tools.linearizability import PendingOp, Recorder

_LEN = struct.Struct(">I")


@dataclass
class Acked:
    key: str
    value: Any
    revision: int


class Clients:
    def __init__(
        self, cluster: LocalCluster, keys: list[str], count: int = 5, op_seconds: float = 3.0
    ) -> None:
        self.cluster = cluster
        self.keys = keys
        self.count = count
        self.op_seconds = op_seconds
        self.recorder = Recorder()
        self.acked: list[Acked] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(count)]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def answered(self) -> int:
        return self.recorder.answered()

    def _ack(self, key: str, value: Any, revision: int) -> None:
        with self._lock:
            self.acked.append(Acked(key, value, revision))

    def _send(
        self, c: httpx.Client, rng: random.Random, method: str, path: str, **kwargs: Any
    ) -> httpx.Response | None:
        deadline = time.monotonic() + self.op_seconds
        while time.monotonic() < deadline and not self._stop.is_set():
            node = rng.choice(self.cluster.nodes)
            left = max(0.1, min(1.0, deadline - time.monotonic()))
            try:
                r = c.request(method, f"{node.http}{path}", timeout=left, **kwargs)
            except httpx.HTTPError:
                time.sleep(0.02)
                continue
            if r.status_code < 500:
                return r
            time.sleep(0.02)
        return None

    def _loop(self, cid: int) -> None:
        rng = random.Random(cid * 7919 + int(time.time()))
        known: dict[str, int] = {}
        with httpx.Client(headers=self.cluster.headers()) as c:
            while not self._stop.is_set():
                key = rng.choice(self.keys)
                roll = rng.random()
                value = f"{cid}-{uuid.uuid4().hex[:10]}"
                rid = uuid.uuid4().hex
                op: PendingOp
                if roll < 0.35:
                    with self.recorder.read(cid, key) as op:
                        r = self._send(c, rng, "GET", f"/v1/kv/{key}", params={"consistent": "true"})
                        if r is None:
                            op.unknown()
                        elif r.status_code == 404:
                            op.absent()
                            known[key] = 0
                        else:
                            body = r.json()
                            known[key] = body["revision"]
                            op.found(body["value"], body["revision"])
                elif roll < 0.6:
                    with self.recorder.write(cid, key, value) as op:
                        r = self._send(c, rng, "PUT", f"/v1/kv/{key}", json=value, params={"request_id": rid})
                        if r is None:
                            op.unknown()
                        else:
                            op.ok(r.json()["revision"])
                            self._ack(key, value, r.json()["revision"])
                elif roll < 0.75:
                    prev = known.get(key, 0)
                    with self.recorder.cas(cid, key, value, prev) as op:
                        r = self._send(
                            c,
                            rng,
                            "PUT",
                            f"/v1/kv/{key}",
                            json=value,
                            params={"prev_revision": prev, "request_id": rid},
                        )
                        if r is None:
                            op.unknown()
                        elif r.status_code == 409:
                            known[key] = r.json()["revision"]
                            op.failed(r.json()["revision"])
                        else:
                            known[key] = r.json()["revision"]
                            op.ok(known[key])
                            self._ack(key, value, known[key])
                elif roll < 0.92:
                    prev = known.get(key, 0)
                    txn = {
                        "compare": [{"key": key, "revision": prev}],
                        "success": [{"put": key, "value": value}],
                        "failure": [],
                        "request_id": rid,
                    }
                    with self.recorder.cas(cid, key, value, prev) as op:
                        r = self._send(c, rng, "POST", "/v1/txn", json=txn)
                        if r is None:
                            op.unknown()
                        elif r.json()["succeeded"]:
                            known[key] = r.json()["revision"]
                            op.ok(known[key])
                            self._ack(key, value, known[key])
                        else:
                            op.failed()
                else:
                    with self.recorder.delete(cid, key) as op:
                        r = self._send(c, rng, "DELETE", f"/v1/kv/{key}", params={"request_id": rid})
                        if r is None:
                            op.unknown()
                        elif r.status_code == 404:
                            op.absent()
                        else:
                            op.ok(r.json()["revision"])
                            known[key] = 0


@dataclass
class Watcher:
    cluster: LocalCluster
    events: list[tuple[int, str, str, Any]] = field(default_factory=list)  # (revision, type, key, value)
    problems: list[str] = field(default_factory=list)
    reconnects: int = 0
    next_revision: int = 1
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            node = self.cluster.nodes[k % len(self.cluster.nodes)]
            k += 1
            try:
                with socket.create_connection((node.host, node.stream_port), timeout=2) as sock:
                    request = {
                        "token": self.cluster.token,
                        "op": "watch",
                        "prefix": "",
                        "from_revision": self.next_revision,
                    }
                    body = orjson.dumps(request)
                    sock.sendall(_LEN.pack(len(body)) + body)
                    while not self._stop.is_set():
                        frame = orjson.loads(_read_exact(sock, _LEN.unpack(_read_exact(sock, 4))[0]))
                        kind = frame.get("type")
                        if kind == "events":
                            for e in frame["events"]:
                                self.events.append((e["revision"], e["type"], e["key"], e.get("value")))
                                self.next_revision = e["revision"] + 1
                        elif kind == "compacted":
                            self.problems.append(f"compacted at {self.next_revision}: {frame}")
                            return
                        elif kind != "progress":
                            break  # closed / error: resume elsewhere
            except (OSError, ValueError):
                pass
            self.reconnects += 1
            self._stop.wait(0.05)


def _read_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf
