"""The edge's readiness checks, for the control API's `/readyz` (control_api.Readiness).

Ready when the SIP transports are bound, the ConfigDB snapshot is loaded and its watch is live
(ConfigSync.watch_problem), and the edge is not draining. Each check reads in-process state only:
nothing here waits on the network, so a probe answers at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol


class _Config(Protocol):
    def watch_problem(self) -> str | None: ...


class EdgeReadiness:
    def __init__(self, listening: Callable[[], bool], config: _Config, draining: Callable[[], bool]) -> None:
        self.listening = listening
        self.config = config
        self.draining = draining

    def __call__(self) -> Mapping[str, str | None]:
        return {
            "sip": None if self.listening() else "the SIP transports are not bound",
            "config": self.config.watch_problem(),
            "draining": "the edge is draining: it takes no new calls" if self.draining() else None,
        }
