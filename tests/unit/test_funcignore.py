"""The Function App package that `.funcignore` leaves (gitignore semantics, applied here by a
small matcher over the files git sees): it holds every module `function_app` imports, the queue
message schemas and the host's files, and none of the tests, benchmarks, node_modules, local
state, development settings or the other deployables; and the files the Bicep app settings
point at under /home/site/wwwroot (the sample rate deck) are in it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FUNCIGNORE = REPO / ".funcignore"


def _glob(pattern: str) -> str:
    """A gitignore glob as a regular expression over a whole path (`*` and `?` stay inside one
    path segment, `**` spans any)."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out, i = out + "/.*", i + 3
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


class GitIgnore:
    def __init__(self, text: str) -> None:
        self.rules: list[tuple[re.Pattern[str], bool, bool]] = []  # (regex, negated, directories only)
        for raw in text.splitlines():
            line = raw.rstrip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            line = line[1:] if negated else line
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            body = _glob(line.lstrip("/"))
            regex = re.compile(body if anchored else f"(?:.*/)?{body}")
            self.rules.append((regex, negated, dir_only))

    def _matches(self, path: str, is_dir: bool) -> bool:
        ignored = False
        for regex, negated, dir_only in self.rules:
            if (is_dir or not dir_only) and regex.fullmatch(path):
                ignored = not negated
        return ignored

    def ignored(self, path: str) -> bool:
        """`path` (a directory when it ends in "/") is left out when it or a directory above it
        is (a file under an ignored directory cannot be taken back, as in git)."""
        is_dir = path.endswith("/")
        parts = path.rstrip("/").split("/")
        parents = ("/".join(parts[:i]) for i in range(1, len(parts)))
        return any(self._matches(d, True) for d in parents) or self._matches("/".join(parts), is_dir)


@cache
def package() -> frozenset[str]:
    """The files of the working tree the package would carry: Azure's packaging reads
    .funcignore alone (not .gitignore), so the walk sees .venv, .data and node_modules too;
    a directory left out is not entered."""
    rules = GitIgnore(FUNCIGNORE.read_text())
    kept: set[str] = set()
    for top, dirs, files in os.walk(REPO):
        rel = os.path.relpath(top, REPO)
        prefix = "" if rel == "." else rel + "/"
        dirs[:] = [d for d in dirs if d != ".git" and not rules.ignored(prefix + d + "/")]
        kept |= {prefix + f for f in files if not rules.ignored(prefix + f)}
    return frozenset(kept)


def test_the_matcher_follows_gitignore_semantics() -> None:
    rules = GitIgnore("*.md\ndocs/*\n!docs/schemas/\ntests/\n.venv*\n/host.txt\na/**/z.py\n")
    assert rules.ignored("README.md") and rules.ignored("shared/notes.md")
    assert rules.ignored("docs/deploy.md") and not rules.ignored("docs/schemas/sms.schema.json")
    assert rules.ignored("tests/unit/test_x.py") and rules.ignored("shared/tests/x.py")
    assert rules.ignored(".venv-lint/bin/x") and not rules.ignored("shared/venv.py")
    assert rules.ignored("host.txt") and not rules.ignored("shared/host.txt")
    assert rules.ignored("a/z.py") and rules.ignored("a/b/c/z.py") and not rules.ignored("b/z.py")
    # a directory left out cannot be taken back file by file
    assert GitIgnore("build/\n!build/keep.py\n").ignored("build/keep.py")
    assert rules.ignored("docs/") is False and rules.ignored("tests/") and not GitIgnore("x/\n").ignored("x")


def function_app_files() -> list[str]:
    """The repository files of every module loaded by importing function_app, in a process
    that starts clean (the app's own settings; state outside the repository)."""
    probe = (
        "import json, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import function_app\n"
        "print(json.dumps(sorted({m.__file__ for m in list(sys.modules.values())"
        " if getattr(m, '__file__', None)})))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PBX_ENVIRONMENT": "local", "DATA_DIR": "/tmp/funcignore-probe"}
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(REPO)],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    files = json.loads(proc.stdout.strip().splitlines()[-1])
    venvs = tuple(str(p) + "/" for p in REPO.glob(".venv*"))
    return sorted(
        str(Path(f).relative_to(REPO))
        for f in files
        if f.startswith(str(REPO) + "/") and not f.startswith(venvs)
    )


def test_package_holds_every_module_function_app_imports() -> None:
    files = function_app_files()
    assert "function_app.py" in files and any(f.startswith("functions/") for f in files)
    assert any(f.startswith("shared/") for f in files)
    missing = [f for f in files if f not in package()]
    assert not missing, f".funcignore leaves out modules the app imports: {missing}"


def test_package_holds_the_host_files_and_the_message_schemas() -> None:
    assert {"function_app.py", "host.json", "requirements.txt"} <= package()
    schemas = sorted(str(p.relative_to(REPO)) for p in (REPO / "docs" / "schemas").glob("*.json"))
    assert schemas, "docs/schemas holds the queue message schemas"
    assert set(schemas) <= package()


@pytest.mark.parametrize(
    "left_out",
    [
        "tests/",
        "bench/",
        "node_modules/",
        ".data/",
        ".venv",
        "web/",
        "tools/",
        "infra/azure/",
        "infra/local/run.py",
        "infra/README.md",
        "ops/",
        "configdb_nodes/",
        "sip_edge/",
        "functions/devhost/",
        "artifacts/",
        "local.settings.json",
        "README.md",
    ],
)
def test_package_leaves_out(left_out: str) -> None:
    kept = sorted(p for p in package() if p.startswith(left_out))
    assert not kept, f"the package would carry {kept[:5]}"


def wwwroot_files() -> list[str]:
    """The package files the Bicep app settings point at (`/home/site/wwwroot/PATH`, where the
    Function App's package is unpacked)."""
    found = set()
    for bicep in (REPO / "infra" / "azure").rglob("*.bicep"):
        found |= set(re.findall(r"/home/site/wwwroot/([\w./-]+)", bicep.read_text()))
    return sorted(found)


def test_package_holds_the_files_the_app_settings_point_at() -> None:
    missing = [f for f in wwwroot_files() if f not in package()]
    assert not missing, f"the Function App settings name files the package leaves out: {missing}"


def test_nothing_kept_that_the_app_does_not_need() -> None:
    allowed = ("function_app.py", "host.json", "requirements.txt", "functions/", "shared/", "docs/schemas/")
    extra = sorted(p for p in package() if not p.startswith(allowed) and p not in wwwroot_files())
    assert not extra, f"the package would carry {extra}"
