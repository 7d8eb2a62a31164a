"""The client's address behind trusted proxies (pure): what the throttles count per address.

Under `AsgiFunctionApp` the ASGI scope has no peer (`request.client` is None): the Functions host
hands the request over in-process, and the platform's front end puts the caller's address in
`X-Forwarded-For` (appending it to whatever the caller sent). Under the local host (uvicorn) the
peer is the TCP peer. The rule, as for any chain of proxies:

- the peer is the first hop. If it is absent (the Functions host) or inside `TRUSTED_PROXIES`,
  the hops it forwarded are believed; otherwise the peer itself is the client and any forwarding
  header it sent is ignored (a caller cannot pick its own address);
- walking `X-Forwarded-For` (or, when there is none, the `for=` parameters of `Forwarded`) from
  the right, the first hop outside `TRUSTED_PROXIES` is the client: entries further left were
  written by the caller and prove nothing;
- when every hop is trusted, the left-most one is the client (a request from inside).

A proxy that speaks only `Forwarded` must drop a caller's `X-Forwarded-For`, which is read first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
UNKNOWN = "unknown"
_MAX_HOPS = 32


def networks(cidrs: Sequence[str]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)


def parse_hop(text: str) -> IpAddress | None:
    """An address from one hop: `1.2.3.4`, `1.2.3.4:5678`, `[2001:db8::1]:443`, `2001:db8::1`,
    or a quoted `Forwarded` value; None for anything else (`unknown`, an obfuscated name)."""
    value = text.strip().strip('"').strip()
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def forwarded_hops(x_forwarded_for: Sequence[str], forwarded: Sequence[str]) -> list[str]:
    """The hops, left to right, from every X-Forwarded-For line, else from every Forwarded line."""
    if x_forwarded_for:
        return [h.strip() for line in x_forwarded_for for h in line.split(",") if h.strip()]
    hops = []
    for line in forwarded:
        for element in line.split(","):
            for pair in element.split(";"):
                name, _, value = pair.partition("=")
                if name.strip().lower() == "for" and value.strip():
                    hops.append(value.strip())
    return hops


def client_ip(peer: str | None, hops: Sequence[str], trusted: Sequence[IpNetwork]) -> str:
    """The client's address as text (see the module's rule); `unknown` when nothing names one."""
    if peer is not None:
        peer_ip = parse_hop(peer)
        if peer_ip is None or not _inside(peer_ip, trusted):
            return str(peer_ip) if peer_ip is not None else peer[:64]
    chain = list(hops)[-_MAX_HOPS:]
    for hop in reversed(chain):
        ip = parse_hop(hop)
        if ip is None:  # a trusted proxy wrote `unknown` or a name: nothing more is known
            return UNKNOWN
        if not _inside(ip, trusted):
            return str(ip)
    if chain:
        first = parse_hop(chain[0])
        return str(first) if first is not None else UNKNOWN
    return peer if peer is not None else UNKNOWN


def _inside(ip: IpAddress, trusted: Sequence[IpNetwork]) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in trusted)
