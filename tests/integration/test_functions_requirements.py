"""The root requirements.txt alone is enough for the Functions app, and holds nothing else.

Azure's build installs the root requirements.txt (the `functions` group of pyproject.toml,
locked with hashes by `make lock`) and then loads function_app.py. This test does the same in
a new virtual environment with nothing else in it, so a module that the app imports but the
lock lacks fails here, and so does a test or other deployable's package that slipped into it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "requirements.txt"

# The HTTP API (one ASGI function) and the timer, queue and blob triggers.
FUNCTIONS = [
    "auth_sweeper",
    "call_ended",
    "email_sink",
    "http_app_func",
    "marketing_sync",
    "monthly_reports",
    "outbox_relay",
    "prompt_convert",
    "push_sender",
    "quality_analyzer",
    "rates_sync",
    "report_request",
    "sms_sender",
    "tenant_cleaner",
    "trial_reminder",
    "trial_stopper",
    "voicemail_new",
]

# Test tools and the other deployables' native packages: none belongs in the Functions app.
NOT_DEPLOYED = ["pytest", "playwright", "schemathesis", "plyvel", "baresip"]

# Run by the new venv's interpreter in isolated mode (-I: no PYTHONPATH, no user site, no
# current directory on sys.path), with only the repository root added to the path.
PROBE = """
import importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
import function_app
names = sorted(f.get_function_name() for f in function_app.app.get_functions())
missing = [m for m in sys.argv[2:] if importlib.util.find_spec(m) is None]
print(json.dumps({"functions": names, "missing": missing}))
"""

pytestmark = pytest.mark.timeout(900)


def _run(what: str, args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert proc.returncode == 0, (
        f"{what} exited {proc.returncode}\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    )
    return proc


def test_function_app_loads_from_root_requirements_alone(tmp_path: Path) -> None:
    # pip keeps its own configuration (index, cache); nothing of the test's own venv leaks in.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    venv = tmp_path / "venv"
    _run("python -m venv", [sys.executable, "-m", "venv", str(venv)], env, timeout=120)
    python = str(venv / "bin" / "python")
    _run(
        "pip install -r requirements.txt",
        [python, "-m", "pip", "install", "-q", "--no-input", "--require-hashes", "-r", str(REQUIREMENTS)],
        env,
        timeout=780,
    )
    _run("pip check", [python, "-m", "pip", "check"], env, timeout=60)

    # Settings come from their local defaults and local.settings.json, as on a developer's machine
    # (PBX_ENVIRONMENT=local: the development secrets are allowed); only the state directory
    # moves out of the repository.
    app_env = {k: v for k, v in env.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    app_env["PBX_ENVIRONMENT"] = "local"
    app_env["DATA_DIR"] = str(tmp_path / "data")
    proc = _run(
        "import function_app", [python, "-I", "-c", PROBE, str(REPO), *NOT_DEPLOYED], app_env, timeout=120
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])

    assert result["functions"] == FUNCTIONS
    assert len(result["functions"]) == 17
    assert result["missing"] == NOT_DEPLOYED, "the Functions lock installs test or non-Functions packages"
