"""A bounded worker for CPU-heavy media work, off the event loop.

`BoundedWorker(workers, queue)` runs a blocking function on its own thread pool of `workers`
threads (never the loop's default executor), so at most `workers` run at once, with at most
`queue` more waiting; a call that finds the queue full raises `WorkerBusy` at once (503 with
`Retry-After`), so a burst of conversions neither blocks the loop nor piles up unbounded work and
memory. miniaudio's decoder (cffi) releases the GIL, so the loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, TypeVar

from shared.errors import DomainError

T = TypeVar("T")

CONVERSION_WORKERS = 2
CONVERSION_QUEUE = 8
RETRY_AFTER_SECONDS = 5


class WorkerBusy(DomainError):
    """503: every worker is busy and the queue is full; retry after `Retry-After` seconds."""

    status: ClassVar[int] = 503
    error_id: ClassVar[str] = "busy"
    title: ClassVar[str] = "Service unavailable"

    def __init__(self, what: str, retry_after: int = RETRY_AFTER_SECONDS) -> None:
        super().__init__(
            f"too many {what} in progress; retry in {retry_after} s",
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class BoundedWorker:
    """At most `workers` calls running in threads and `queue` waiting; more raise `WorkerBusy`."""

    def __init__(self, what: str, workers: int = CONVERSION_WORKERS, queue: int = CONVERSION_QUEUE) -> None:
        self.what = what
        self.workers = workers
        self.queue = queue
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"worker-{what}")
        self._lock = threading.Lock()  # the count is shared by every event loop of the process
        self._admitted = 0  # running + waiting

    @property
    def admitted(self) -> int:
        return self._admitted

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        with self._lock:
            if self._admitted >= self.workers + self.queue:
                raise WorkerBusy(self.what)
            self._admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            with self._lock:
                self._admitted -= 1


# One per process: the blob trigger's prompt conversions share it.
CONVERSIONS = BoundedWorker("prompt conversions")
