"""The container images, built and run as far as this machine allows without Docker.

For each Dockerfile: the COPY lines are carried out into a fresh directory (the image's WORKDIR),
its lock is installed the way its RUN line does (wheels only, hashes required) into a clean venv
(uv, with its cache), and then, from that directory with that venv and the image's ENV:

- the ConfigDB node runs its ENTRYPOINT with a single node's flags, answers /healthz, passes the
  image's HEALTHCHECK command, stops cleanly on its STOPSIGNAL, and then fails the HEALTHCHECK;
- the edge's ENTRYPOINT + CMD parse (`--help`), every module it imports (the ones it loads on
  demand too) imports, and its HEALTHCHECK fails while no edge runs.

It needs the package registry, or uv's cache holding the locked wheels.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from infra.local.ports import free_port
from tests.unit.test_dockerfiles import IMAGES, Image, env_values, exec_form, instructions, only

REPO = Path(__file__).resolve().parents[2]
UV = Path(sys.executable).parent / "uv"
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.md", "Dockerfile")

pytestmark = pytest.mark.timeout(600)


def build(image: Image, root: Path) -> tuple[Path, str]:
    """The image's /app under `root`, and the python of a venv holding its lock: (app, python)."""
    app = root / "app"
    app.mkdir()
    for word, args in instructions(image.dockerfile):
        if word != "COPY":
            continue
        *sources, dest = args.split()
        if dest.startswith("/"):
            continue  # the lock, copied to /tmp for the RUN line
        for src in sources:
            target = app / dest
            if (REPO / src).is_dir():
                shutil.copytree(REPO / src, target, ignore=IGNORED, dirs_exist_ok=True)
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / src, target / Path(src).name)
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    venv = root / "venv"
    python = str(venv / "bin" / "python")
    install = [str(UV), "pip", "install", "-q", "--python", python, "--require-hashes"]
    for cmd in (
        [str(UV), "venv", "-q", "--python", sys.executable, str(venv)],
        [*install, "--only-binary", ":all:", "-r", str(REPO / image.lock)],
    ):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400, check=False)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return app, python


def image_env(image: Image, root: Path, **extra: str) -> dict[str, str]:
    """The image's ENV, with HOME and PATH, and `extra` (what the host would pass)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root), **env_values(image.dockerfile), **extra}
    return {k: v.replace("/data", str(root / "data")) if k == "DATA_DIR" else v for k, v in env.items()}


def in_image(python: str, command: list[str]) -> list[str]:
    """An exec-form command of the image, run by the image venv's python."""
    assert command[0] == "python"
    return [python, *command[1:]]


def test_configdb_node_image_runs_its_entrypoint_and_healthcheck(tmp_path: Path) -> None:
    image = next(i for i in IMAGES if i.package == "configdb_nodes")
    app, python = build(image, tmp_path)
    env = image_env(image, tmp_path, PBX_ENVIRONMENT="local")  # the development tokens
    http, stream, raft = free_port(), free_port(), free_port()
    flags = ["--node-id", "n1", "--data-dir", str(tmp_path / "data" / "n1")]
    flags += ["--http", f"0.0.0.0:{http}", "--stream", f"127.0.0.1:{stream}", "--raft", f"127.0.0.1:{raft}"]
    entry = exec_form(only(image.dockerfile, "ENTRYPOINT"))
    check = exec_form(only(image.dockerfile, "HEALTHCHECK").partition(" CMD ")[2])
    log = (tmp_path / "node.log").open("wb")
    node = subprocess.Popen(in_image(python, entry) + flags, cwd=app, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert node.poll() is None, (tmp_path / "node.log").read_text()[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{http}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the node never answered /healthz"
            time.sleep(0.2)

        probe = [*in_image(python, check), "--pid", str(node.pid)]
        healthy = subprocess.run(probe, cwd=app, env=env, capture_output=True, text=True, timeout=60)
        assert healthy.returncode == 0, healthy.stderr

        assert only(image.dockerfile, "STOPSIGNAL") == "SIGTERM"
        node.send_signal(signal.SIGTERM)
        assert node.wait(15) == 0, (tmp_path / "node.log").read_text()[-3000:]
    finally:
        if node.poll() is None:
            node.kill()
            node.wait()
        log.close()
    gone = subprocess.run(probe, cwd=app, env=env, capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1 and "no `python -m configdb_nodes` process" in gone.stderr


def test_edge_image_imports_everything_it_runs(tmp_path: Path) -> None:
    image = next(i for i in IMAGES if i.package == "sip_edge")
    app, python = build(image, tmp_path)
    env = image_env(image, tmp_path)
    modules = ["sip_edge.__main__", "sip_edge.healthcheck", *image.lazy]
    imported = subprocess.run(
        [python, "-c", "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)", *modules],
        cwd=app,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert imported.returncode == 0, imported.stderr[-3000:]

    entry = exec_form(only(image.dockerfile, "ENTRYPOINT"))
    helped = subprocess.run(
        [*in_image(python, entry), "--help"], cwd=app, env=env, capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0 and "--data-dir" in helped.stdout, helped.stderr

    check = exec_form(only(image.dockerfile, "HEALTHCHECK").partition(" CMD ")[2])
    probe = [*in_image(python, check), "--pid", str(os.getpid())]
    down = subprocess.run(probe, cwd=app, env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 1 and "no `python -m sip_edge` process" in down.stderr
