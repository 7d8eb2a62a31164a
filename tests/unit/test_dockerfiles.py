"""The container images (configdb_nodes/Dockerfile, sip_edge/Dockerfile), read as text: Docker
cannot run here, so this checks what the images would run against what the tests run.

- ENTRYPOINT + CMD are the command `infra/local/commands.py` builds for the local stack and the
  integration tests (with the image's `python`);
- the base image is pinned to an exact Python 3.11 patch release, the user is not root, the
  HEALTHCHECK runs the service's own probe module with the standard library, STOPSIGNAL is
  SIGTERM (the graceful drain);
- the packages come from the service's hash-pinned lock, and the COPY lines bring every module
  the process imports (walked in a subprocess) and no package it does not;
- no secret is baked in with ENV, and the build context (.dockerignore) admits only the locks
  and the code.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from infra.local.commands import configdb_node_command, edge_command
from shared.container_health import local_url, probe, process_args, process_environ, service_process

REPO = Path(__file__).resolve().parents[2]
# The repository's own top-level packages (the rest of sys.modules is the standard library and
# the locked dependencies, which the image installs).
REPO_PACKAGES = sorted(p.parent.name for p in REPO.glob("*/__init__.py"))


@dataclass(frozen=True)
class Image:
    dockerfile: str
    lock: str
    package: str
    command: list[str]  # what the local stack and the tests run, with the image's `python`
    lazy: tuple[str, ...] = ()  # modules the process imports on demand, after start-up


IMAGES = [
    Image(
        "configdb_nodes/Dockerfile",
        "requirements/configdb.txt",
        "configdb_nodes",
        configdb_node_command(python="python"),
        lazy=("shared.adapters.key_vault",),
    ),
    Image(
        "sip_edge/Dockerfile",
        "requirements/sip-edge.txt",
        "sip_edge",
        edge_command("/data/edge", python="python"),
        lazy=(
            "shared.adapters.history.mongo_store",
            "shared.adapters.history.sqlite_store",
            "shared.adapters.key_vault",
        ),
    ),
]
IDS = [i.package for i in IMAGES]


def instructions(path: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; comments dropped, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in (REPO / path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, f"{path}: a continuation runs off the end"
    return out


def only(path: str, word: str) -> str:
    found = [args for w, args in instructions(path) if w == word]
    assert len(found) == 1, f"{path}: expected one {word}, found {len(found)}"
    return found[0]


def exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
    return value


def env_values(path: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in instructions(path):
        if word == "ENV":
            for name, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", args):
                env[name] = value
    return env


@pytest.mark.parametrize("image", IMAGES, ids=IDS)
def test_entrypoint_and_cmd_are_the_command_the_tests_run(image: Image) -> None:
    entry = exec_form(only(image.dockerfile, "ENTRYPOINT"))
    cmds = [args for w, args in instructions(image.dockerfile) if w == "CMD"]
    command = entry + (exec_form(cmds[0]) if cmds else [])
    assert command == image.command
    # The node's flags are per node: the host appends them, and they parse as the tests' do.
    if image.package == "configdb_nodes":
        assert not cmds


@pytest.mark.parametrize("image", IMAGES, ids=IDS)
def test_base_user_healthcheck_and_stop_signal(image: Image) -> None:
    steps = instructions(image.dockerfile)
    words = [w for w, _ in steps]
    assert words[0] == "FROM" and words.count("FROM") == 1
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", only(image.dockerfile, "FROM")), (
        "pin the base to an exact Python 3.11 patch release"
    )

    user = only(image.dockerfile, "USER")
    assert user not in ("root", "0") and not user.startswith(("root:", "0:"))
    assert words.index("USER") < words.index("ENTRYPOINT")
    assert not any(w == "RUN" for w in words[words.index("USER") :]), "nothing runs as root after USER"

    assert only(image.dockerfile, "STOPSIGNAL") == "SIGTERM"

    check = only(image.dockerfile, "HEALTHCHECK")
    options, _, probe_cmd = check.partition(" CMD ")
    assert exec_form(probe_cmd) == ["python", "-m", f"{image.package}.healthcheck"]
    assert (REPO / image.package / "healthcheck.py").is_file()
    assert "curl" not in check and "wget" not in check
    assert re.search(r"--timeout=\d+s", options) and re.search(r"--interval=\d+s", options)


@pytest.mark.parametrize("image", IMAGES, ids=IDS)
def test_packages_come_from_the_hash_pinned_lock(image: Image) -> None:
    runs = " ".join(args for w, args in instructions(image.dockerfile) if w == "RUN")
    assert "--require-hashes" in runs and "--only-binary=:all:" in runs
    assert f"COPY {image.lock} /tmp/requirements.txt" in [
        f"{w} {args}" for w, args in instructions(image.dockerfile)
    ]
    assert "apt-get" not in runs, "the wheels need nothing from apt: keep the image slim"
    lock = (REPO / image.lock).read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==\S+ \\$", lock, re.MULTILINE)
    assert pins and len(pins) == lock.count("==") and lock.count("--hash=sha256:") >= len(pins)


def copied_sources(path: str) -> list[str]:
    sources = []
    for word, args in instructions(path):
        if word == "COPY":
            parts = args.split()
            assert not any(p.startswith("--from") for p in parts)
            sources += parts[:-1]
    return sources


def imported_modules(image: Image) -> list[str]:
    """The repository's modules loaded by importing the entry point and the probe, plus the
    ones the process imports on demand."""
    probe_code = (
        "import importlib, json, sys\n"
        f"for m in {[f'{image.package}.__main__', f'{image.package}.healthcheck', *image.lazy]!r}:\n"
        "    importlib.import_module(m)\n"
        "print(json.dumps(sorted(n for n, m in sys.modules.items()"
        " if n.partition('.')[0] in sys.argv[1:])))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe_code, *REPO_PACKAGES],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(proc.stdout)


def module_file(name: str) -> str:
    base = REPO / Path(*name.split("."))
    return str((base / "__init__.py") if base.is_dir() else base.with_suffix(".py")).removeprefix(
        str(REPO) + "/"
    )


@pytest.mark.parametrize("image", IMAGES, ids=IDS)
def test_copy_brings_every_module_the_process_imports_and_no_other_package(image: Image) -> None:
    sources = [s for s in copied_sources(image.dockerfile) if not s.startswith("requirements/")]
    for src in sources:
        assert (REPO / src).exists(), f"COPY {src}: no such path"
        assert src.rstrip("/").split("/")[0] in ("shared", image.package), f"COPY {src}: not the service's"

    def copied(rel: str) -> bool:
        return any(rel == s or (s.endswith("/") and rel.startswith(s)) for s in sources)

    modules = imported_modules(image)
    assert f"{image.package}.__main__" in modules
    files = {module_file(m) for m in modules}
    missing = sorted(f for f in files if not copied(f))
    assert not missing, f"{image.dockerfile} does not copy what the process imports: {missing}"
    unused = [s for s in sources if not any(f == s or f.startswith(s) for f in files)]
    assert not unused, f"{image.dockerfile} copies what the process never imports: {unused}"


SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|KEY|CONNECTION|AzureWebJobsStorage|MONGODB_URI", re.I)


@pytest.mark.parametrize("image", IMAGES, ids=IDS)
def test_no_secret_in_the_image_and_a_tight_build_context(image: Image) -> None:
    env = env_values(image.dockerfile)
    assert not [n for n in env if SECRET_NAME.search(n)], "settings with secrets come from the host"
    assert "PBX_ENVIRONMENT" not in env, "an image is a production process: no development defaults"
    for word, args in instructions(image.dockerfile):
        assert word != "ARG" or not SECRET_NAME.search(args)

    ignore = (REPO / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in ignore if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", ".dockerignore starts by excluding everything"
    admitted = [r[1:] for r in rules if r.startswith("!")]
    for src in copied_sources(image.dockerfile):
        assert any(src == a or src.startswith(a) for a in admitted), f"{src} is outside the build context"
    assert not any(
        a.startswith(("local.settings", ".venv", ".data", "tests", "node_modules")) for a in admitted
    )


def test_exposed_ports_match_the_settings_the_images_run_with() -> None:
    node = only("configdb_nodes/Dockerfile", "EXPOSE").split()
    assert node == ["7101/tcp", "7201/tcp", "7301/tcp"]

    edge_env = env_values("sip_edge/Dockerfile")
    edge = only("sip_edge/Dockerfile", "EXPOSE").split()
    assert f"{edge_env['SIP_PORT']}/udp" in edge and f"{edge_env['SIP_PORT']}/tcp" in edge
    assert f"{edge_env['EDGE_CONTROL_PORT']}/tcp" in edge
    assert f"{edge_env['SIP_RTP_PORTS']}/udp" in edge
    from shared.settings import Settings

    # The image's own values are valid settings (a typo would stop the edge at start).
    Settings(**{k.lower(): v for k, v in edge_env.items() if k in ("SIP_PORT", "SIP_RTP_PORTS")})


# -- the probe the HEALTHCHECKs run ---------------------------------------------------------


def fake_proc(root: Path, processes: dict[int, list[str]]) -> Path:
    for pid, argv in processes.items():
        (root / str(pid)).mkdir()
        (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (root / "self").mkdir()
    (root / "sys").mkdir()
    return root


def test_process_args_finds_the_oldest_service_process(tmp_path: Path) -> None:
    root = fake_proc(
        tmp_path,
        {
            1: ["/usr/bin/tini", "--", "python"],
            7: ["python", "-m", "configdb_nodes", "--node-id", "n1", "--http", "0.0.0.0:7101"],
            9: ["python", "-m", "configdb_nodes", "--node-id", "n2"],
            12: ["python", "-m", "configdb_nodes.healthcheck"],
            13: ["python", "-m", "sip_edge", "--data-dir", "/data/edge"],
        },
    )
    assert process_args("configdb_nodes", root) == ["--node-id", "n1", "--http", "0.0.0.0:7101"]
    assert process_args("sip_edge", root) == ["--data-dir", "/data/edge"]
    assert process_args("ops", root) is None


def test_process_environ_reads_the_service_processs_own_environment(tmp_path: Path) -> None:
    root = fake_proc(tmp_path, {13: ["python", "-m", "sip_edge"], 14: ["python", "-m", "sip_edge"]})
    (root / "13" / "environ").write_bytes(b"EDGE_CONTROL_HOST=10.40.3.10\0A=b=c\0NOVALUE\0EMPTY=\0")
    assert service_process("sip_edge", root) == (13, [])
    assert service_process("sip_edge", root, pid=14) == (14, [])
    assert process_environ(13, root) == {"EDGE_CONTROL_HOST": "10.40.3.10", "A": "b=c", "EMPTY": ""}
    assert process_environ(14, root) == {}  # unreadable: nothing


def test_local_url_probes_a_wildcard_bind_on_loopback() -> None:
    assert local_url("http", "0.0.0.0", 7101, "/healthz") == "http://127.0.0.1:7101/healthz"
    assert local_url("https", "::", 7101, "/healthz") == "https://[::1]:7101/healthz"
    assert local_url("http", "10.0.0.4", 7101, "/healthz") == "http://10.0.0.4:7101/healthz"


def test_probe_is_healthy_only_on_a_2xx_answer(tmp_path: Path) -> None:
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        assert probe(f"http://127.0.0.1:{port}/healthz") == 0
        assert probe(f"http://127.0.0.1:{port}/other") == 1
    finally:
        server.shutdown()
        server.server_close()
    assert probe(f"http://127.0.0.1:{port}/healthz") == 1  # closed: refused


def test_node_flags_from_the_local_cluster_parse_with_the_image_entrypoint() -> None:
    from configdb_nodes.__main__ import parse_args

    cmd = configdb_node_command(
        *("--node-id", "n1", "--data-dir", "/data/n1", "--http", "0.0.0.0:7101"),
        *("--stream", "0.0.0.0:7201", "--raft", "10.0.0.4:7301", "--peers", "10.0.0.5:7301"),
        python="python",
    )
    entry = exec_form(only("configdb_nodes/Dockerfile", "ENTRYPOINT"))
    assert cmd[: len(entry)] == entry
    args = parse_args(cmd[len(entry) :])
    assert args.http == ("0.0.0.0", 7101) and args.peer_list == ["10.0.0.5:7301"]
