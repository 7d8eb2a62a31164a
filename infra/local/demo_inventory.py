"""The local stack's number inventory: the demo range +15557770000 to +15557779999, imported with the
operator CLI (`python -m ops numbers import`) the way an operator imports a carrier's file.

`make run` imports all 10,000 into the settings' region ("local"); `LocalStack` imports the first
`count` of them (1,000 by default, enough for every test number). The import is idempotent: run
again, it adds nothing and leaves assigned and quarantined numbers as they are.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from shared.settings import Settings

from .managed import REPO

FIRST = 15557770000
SIZE = 10_000


def write_demo_inventory(path: Path, region: str, count: int = SIZE) -> Path:
    """The carrier CSV of the demo range's first `count` numbers, all voice and SMS, in `region`."""
    if not 1 <= count <= SIZE:
        raise ValueError(f"the demo range holds 1 to {SIZE} numbers, not {count}")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = "".join(f"+{FIRST + i},{region},voice;sms\n" for i in range(count))
    path.write_text("number,region,capabilities\n" + rows)
    return path


def import_inventory(settings: Settings, csv_file: Path, timeout: float = 300.0) -> dict[str, Any]:
    """Run `python -m ops numbers import` against the settings' ConfigDB; its summary line."""
    env = {**settings.as_env(), "OPS_OPERATOR": "local-stack"}
    done = subprocess.run(
        [sys.executable, "-m", "ops", "numbers", "import", str(csv_file)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the demo inventory import failed: {done.stderr.strip() or done.returncode}")
    summary: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return summary


def import_demo_inventory(settings: Settings, data_dir: Path, count: int = SIZE) -> dict[str, Any]:
    csv_file = write_demo_inventory(data_dir / "inventory" / "demo.csv", settings.region, count)
    return import_inventory(settings, csv_file)
