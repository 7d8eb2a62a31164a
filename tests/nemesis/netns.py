"""Network namespaces for a ConfigDB shard under network faults (test tool; needs root).

`NetLab(size)` builds, with names unique to this process (pid-based, so parallel runs
do not collide):

    root namespace (the test, its clients)  <tag>r  10.A.B.1
        │ veth
    hub namespace <tag>h: bridge br0 ── veth ── node namespace <tag>n1: eth0 10.A.B.11
                                     ── veth ── node namespace <tag>n2: eth0 10.A.B.12
                                     ── ...

Each node process runs in its own namespace (`launcher(node)` is the `ip netns exec`
prefix that `LocalCluster` puts before the node's command). Faults, all undone by `heal()`:

* `block(src, dst)`: src's packets to dst vanish (a blackhole route in src's namespace):
  one direction of one link. `isolate(i)` blocks both directions between i and every other
  node (clients still reach i: an isolated leader keeps taking requests it cannot serve).
* `link_down(i)`: i's interface goes down (no peer and no client reaches it).
* `congest(i, rate, latency)`: a token-bucket filter on both ends of i's link: traffic
  over `rate` queues for up to `latency` and is then dropped (delay and loss; this kernel
  has no netem).

`close()` deletes every namespace it made (their links go with them); call it in a
finalizer. A namespace that cannot be made raises `NetnsError` with the command's error.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess

_counter = itertools.count()


class NetnsError(RuntimeError):
    pass


def _run(*args: str) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"{' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise NetnsError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr.strip()}")
    return done.stdout


class NetLab:
    def __init__(self, size: int) -> None:
        n = next(_counter)
        pid = os.getpid()
        self.size = size
        self.tag = f"cq{pid % 1_000_000}{n}"  # interface names stay under 15 characters
        seq = pid * 7 + n
        self.prefix = f"10.{100 + (seq >> 8) % 100}.{seq % 256}"
        self.hub = f"{self.tag}h"
        self.namespaces = [f"{self.tag}n{i + 1}" for i in range(size)]
        self.client_ip = f"{self.prefix}.1"
        self._made: list[str] = []
        self._congested: set[int] = set()
        self._down: set[int] = set()

    # ---- addresses ----------------------------------------------------------------------
    def ip(self, i: int) -> str:
        return f"{self.prefix}.{11 + i}"

    @property
    def hosts(self) -> list[str]:
        return [self.ip(i) for i in range(self.size)]

    def index_of_host(self, host: str) -> int:
        return self.hosts.index(host)

    def exec_prefix(self, i: int) -> list[str]:
        return ["ip", "netns", "exec", self.namespaces[i]]

    # ---- building and tearing down ------------------------------------------------------
    def _ns(self, ns: str, *args: str) -> str:
        return _run("ip", "netns", "exec", ns, *args)

    def make(self) -> NetLab:
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def _build(self) -> None:
        for ns in [self.hub, *self.namespaces]:
            _run("ip", "netns", "add", ns)
            self._made.append(ns)
            self._ns(ns, "ip", "link", "set", "lo", "up")
        self._ns(self.hub, "ip", "link", "add", "br0", "type", "bridge")
        self._ns(self.hub, "ip", "link", "set", "br0", "up")
        for i, ns in enumerate(self.namespaces):
            outer, inner = f"{self.tag}v{i + 1}", f"{self.tag}p{i + 1}"
            _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            _run("ip", "link", "set", inner, "netns", ns)
            _run("ip", "link", "set", outer, "netns", self.hub)
            self._ns(ns, "ip", "link", "set", inner, "name", "eth0")
            self._ns(ns, "ip", "addr", "add", f"{self.ip(i)}/24", "dev", "eth0")
            self._ns(ns, "ip", "link", "set", "eth0", "up")
            self._ns(self.hub, "ip", "link", "set", outer, "master", "br0")
            self._ns(self.hub, "ip", "link", "set", outer, "up")
        root, root_peer = f"{self.tag}r", f"{self.tag}rh"
        _run("ip", "link", "add", root, "type", "veth", "peer", "name", root_peer)
        self._made.append(f"link:{root}")
        _run("ip", "link", "set", root_peer, "netns", self.hub)
        self._ns(self.hub, "ip", "link", "set", root_peer, "master", "br0")
        self._ns(self.hub, "ip", "link", "set", root_peer, "up")
        _run("ip", "addr", "add", f"{self.client_ip}/24", "dev", root)
        _run("ip", "link", "set", root, "up")

    def close(self) -> None:
        errors = []
        for name in reversed(self._made):
            try:
                if name.startswith("link:"):
                    links = _run("ip", "-o", "link", "show")
                    if f" {name[5:]}@" in links or f" {name[5:]}:" in links:
                        _run("ip", "link", "del", name[5:])
                else:
                    _run("ip", "netns", "del", name)
            except NetnsError as exc:
                errors.append(str(exc))
        self._made.clear()
        if errors:
            raise NetnsError("; ".join(errors))

    def __enter__(self) -> NetLab:
        return self.make()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- faults -------------------------------------------------------------------------
    def block(self, src: int, dst: int) -> None:
        """src's packets to dst are dropped (one direction)."""
        self._ns(self.namespaces[src], "ip", "route", "replace", "blackhole", f"{self.ip(dst)}/32")

    def isolate(self, i: int) -> None:
        for j in range(self.size):
            if j != i:
                self.block(i, j)
                self.block(j, i)

    def link_down(self, i: int) -> None:
        self._ns(self.namespaces[i], "ip", "link", "set", "eth0", "down")
        self._down.add(i)

    def congest(self, i: int, rate: str = "32kbit", latency: str = "50ms") -> None:
        tbf = ["tbf", "rate", rate, "burst", "8kb", "latency", latency]
        self._ns(self.namespaces[i], "tc", "qdisc", "replace", "dev", "eth0", "root", *tbf)
        self._ns(self.hub, "tc", "qdisc", "replace", "dev", f"{self.tag}v{i + 1}", "root", *tbf)
        self._congested.add(i)

    def congestion_drops(self) -> tuple[int, int, int]:
        """(packets sent, dropped, delayed) by the token-bucket filters now in place."""
        sent = dropped = delayed = 0
        for i in self._congested:
            for ns, dev in ((self.namespaces[i], "eth0"), (self.hub, f"{self.tag}v{i + 1}")):
                out = self._ns(ns, "tc", "-s", "qdisc", "show", "dev", dev)
                m = re.search(r"Sent \d+ bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)", out)
                if m:
                    sent += int(m.group(1))
                    dropped += int(m.group(2))
                    delayed += int(m.group(3))
        return sent, dropped, delayed

    def heal(self) -> None:
        for i, ns in enumerate(self.namespaces):
            self._ns(ns, "ip", "route", "flush", "type", "blackhole")
            if i in self._down:
                self._ns(ns, "ip", "link", "set", "eth0", "up")
            if i in self._congested:
                self._ns(ns, "tc", "qdisc", "del", "dev", "eth0", "root")
                self._ns(self.hub, "tc", "qdisc", "del", "dev", f"{self.tag}v{i + 1}", "root")
        self._down.clear()
        self._congested.clear()
