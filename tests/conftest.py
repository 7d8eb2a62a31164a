"""Shared pytest options.

--slow       also run tests marked `slow` (long simulations, soak runs)
--seeds N    number of Raft simulation seeds per cluster size (overrides the default / SIM_SEEDS)
"""

from __future__ import annotations

import pytest


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
