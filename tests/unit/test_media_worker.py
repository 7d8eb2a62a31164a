"""shared.media.worker: conversions run off the event loop, bounded, and a full queue is a 503."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from shared.media.worker import BoundedWorker, WorkerBusy


def test_work_runs_off_the_loop_and_a_full_queue_answers_busy_with_retry_after() -> None:
    release = threading.Event()
    started: list[str] = []

    def convert(name: str) -> str:
        started.append(name)
        release.wait(10)
        return name.upper()

    async def main() -> None:
        worker = BoundedWorker("conversions", workers=2, queue=3)
        jobs = [asyncio.create_task(worker.run(convert, f"p{i}")) for i in range(5)]
        await asyncio.sleep(0)
        t0 = time.monotonic()
        while len(started) < 2:  # the loop is free while both workers block
            await asyncio.sleep(0.01)
            assert time.monotonic() - t0 < 5
        assert worker.admitted == 5
        with pytest.raises(WorkerBusy) as busy:
            await worker.run(convert, "one too many")
        assert busy.value.status == 503 and busy.value.headers["Retry-After"] == "5"
        assert len(started) == 2  # never more than `workers` at once
        release.set()
        assert await asyncio.gather(*jobs) == ["P0", "P1", "P2", "P3", "P4"]
        assert worker.admitted == 0
        assert await worker.run(convert, "again") == "AGAIN"  # the queue drained

    asyncio.run(main())


def test_a_failing_job_frees_its_place() -> None:
    def boom() -> None:
        raise ValueError("bad audio")

    async def main() -> None:
        worker = BoundedWorker("conversions", workers=1, queue=0)
        for _ in range(3):
            with pytest.raises(ValueError):
                await worker.run(boom)
        assert worker.admitted == 0

    asyncio.run(main())
