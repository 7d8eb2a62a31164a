"""The client address behind trusted proxies (functions/http_api/client_ip.py)."""

from __future__ import annotations

import pytest

from functions.http_api.client_ip import UNKNOWN, client_ip, forwarded_hops, networks, parse_hop

TRUSTED = networks(["127.0.0.1/32", "10.0.0.0/8", "2001:db8:ffff::/48"])


@pytest.mark.parametrize(
    ("hop", "address"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("198.51.100.7:50123", "198.51.100.7"),
        (" [2001:db8::1]:443 ", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ('"[2001:db8:cafe::17]:4711"', "2001:db8:cafe::17"),
        ("unknown", None),
        ("_hidden", None),
        ("", None),
    ],
)
def test_parse_hop(hop: str, address: str | None) -> None:
    got = parse_hop(hop)
    assert (None if got is None else str(got)) == address


def test_the_right_most_untrusted_hop_is_the_client() -> None:
    # the caller wrote 6.6.6.6; the trusted proxies appended what they saw
    assert client_ip("127.0.0.1", ["6.6.6.6", "198.51.100.7", "10.1.2.3"], TRUSTED) == "198.51.100.7"


def test_an_untrusted_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_ip("192.0.2.9", ["198.51.100.7"], TRUSTED) == "192.0.2.9"
    assert client_ip("not-an-ip", ["198.51.100.7"], TRUSTED) == "not-an-ip"


def test_no_peer_is_the_functions_host_and_its_front_end_names_the_client() -> None:
    assert client_ip(None, ["6.6.6.6", "198.51.100.7:61000"], TRUSTED) == "198.51.100.7"
    assert client_ip(None, [], TRUSTED) == UNKNOWN


def test_all_trusted_hops_give_the_left_most_and_no_hops_give_the_peer() -> None:
    assert client_ip("127.0.0.1", ["10.0.0.5", "10.0.0.6"], TRUSTED) == "10.0.0.5"
    assert client_ip("127.0.0.1", [], TRUSTED) == "127.0.0.1"
    assert client_ip("::ffff:127.0.0.1", ["198.51.100.7"], TRUSTED) == "198.51.100.7"  # IPv4-mapped peer


def test_a_trusted_proxy_that_says_unknown_ends_the_walk() -> None:
    assert client_ip("127.0.0.1", ["6.6.6.6", "unknown"], TRUSTED) == UNKNOWN


def test_x_forwarded_for_lines_are_joined_and_forwarded_is_read_only_without_it() -> None:
    assert forwarded_hops(["1.1.1.1, 2.2.2.2", "3.3.3.3"], ["for=9.9.9.9"]) == [
        "1.1.1.1",
        "2.2.2.2",
        "3.3.3.3",
    ]
    hops = forwarded_hops([], ['for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"'])
    assert hops == ["192.0.2.60", '"[2001:db8:cafe::17]:4711"']
    assert client_ip("127.0.0.1", hops, TRUSTED) == "2001:db8:cafe::17"
