"""The node's client token table (configdb_nodes/auth.py): parsing, look-up and scopes."""

from __future__ import annotations

import hashlib
import json

import pytest

from configdb_nodes.auth import TokenScope, TokenTable, TokenTableError

APP = "functions-token-0123456789"
EDGE = "edge-token-0123456789abcd"


def table() -> TokenTable:
    entries = [
        {"name": "functions", "token": APP, "access": "write", "prefixes": ["t/", "idx/"]},
        {"name": "edge", "sha256": hashlib.sha256(EDGE.encode()).hexdigest(), "access": "read"},
    ]
    return TokenTable.build("admin-token-0123456789", json.dumps(entries))


def test_lookup_finds_each_scope_and_nothing_else() -> None:
    t = table()
    admin = t.lookup("admin-token-0123456789")
    assert admin is not None and admin.access == "admin" and admin.may_write("anything/at/all")
    app = t.lookup(APP)
    assert app == TokenScope("functions", "write", ("t/", "idx/"))
    edge = t.lookup(EDGE)  # configured by its SHA-256 only
    assert edge is not None and edge.name == "edge" and edge.prefixes == ("",)
    assert t.lookup("") is None and t.lookup(APP + "x") is None and t.lookup(APP[:-1]) is None


def test_scopes_read_and_write_under_their_prefixes() -> None:
    app = TokenScope("functions", "write", ("t/", "idx/"))
    assert app.may_write("t/a/user/1") and app.may_read("idx/") and app.may_read("t/a/")
    assert not app.may_write("auth/x") and not app.may_read("") and not app.may_read("t")
    edge = TokenScope("edge", "read", ("t/",))
    assert edge.may_read("t/a/") and not edge.may_write("t/a/user/1")
    assert "read under 't/'" in edge.describe()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("not json", "does not validate"),
        ('[{"name": "x", "access": "write"}]', "exactly one of 'token' or 'sha256'"),
        ('[{"name": "x", "token": "short", "access": "read"}]', "at 0/token"),
        ('[{"name": "x", "sha256": "abc", "access": "read"}]', "at 0/sha256"),
        ('[{"name": "x", "token": "0123456789abcdefg", "access": "root"}]', "at 0/access"),
        ('[{"name": "x", "token": "0123456789abcdefg", "access": "read", "extra": 1}]', "at 0/extra"),
    ],
)
def test_a_bad_table_is_one_clear_error(text: str, needle: str) -> None:
    with pytest.raises(TokenTableError, match=needle.replace("(", r"\(")):
        TokenTable.build("admin-token-0123456789", text)


def test_two_entries_with_one_token_are_refused() -> None:
    entries = [{"name": "again", "token": "admin-token-0123456789", "access": "read"}]
    with pytest.raises(TokenTableError, match="the again token is also another entry's token"):
        TokenTable.build("admin-token-0123456789", json.dumps(entries))


def test_no_table_means_the_admin_token_alone() -> None:
    for text in (None, "", "  \n"):
        t = TokenTable.build("admin-token-0123456789", text)
        assert [name for name, _ in t.digests()] == ["admin"]
