"""Shared pytest options.

--slow       also run tests marked `slow` (long simulations, soak runs)
--seeds N    number of Raft simulation seeds per cluster size (overrides the default / SIM_SEEDS)
"""

from __future__ import annotations

import os

import pytest

# Tests run the platform as a local one: its development secrets are allowed (shared/settings.py),
# in-process and in every child process (which inherits this).
os.environ["PBX_ENVIRONMENT"] = "local"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", default=False, help="run tests marked slow")
    parser.addoption(
        "--seeds", type=int, default=None, help="raft simulation seeds per cluster size (see SIM_SEEDS)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
