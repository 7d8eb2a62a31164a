"""Polling waits for tests: wait for a condition, never for a fixed time.

``eventually(check, timeout=10, interval=0.05, message="...")`` calls ``check()`` until it
returns a truthy value and returns that value. A check that raises (an ``assert`` inside it,
a connection refused) counts as "not yet". At the deadline it raises AssertionError naming
what it waited for, the last value and the last exception::

    rec = eventually(lambda: store.get_call(tenant, call_id), timeout=15, message="the call record")
    eventually(lambda: proc.poll() is not None, message="the edge to exit")

``await eventually_async(...)`` is the same for asyncio tests; its check may be a coroutine
function. ``until_answered(send)`` repeats an HTTP request while the answer is "not now" (503,
504: a ConfigDB shard electing a leader on a loaded machine) and returns the answer's JSON.

A fixed sleep stays only where the time itself is the behaviour under test (nothing must
happen for N seconds; a caller speaks for N seconds) and says so in a comment.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")


def _timed_out(message: str | None, check: Callable[..., Any], timeout: float, last: Any, error: Any) -> str:
    what = message or getattr(check, "__name__", repr(check))
    text = f"timed out after {timeout:g}s waiting for {what}; last value: {last!r}"
    if error is not None:
        text += f"; last exception: {type(error).__name__}: {error}"
    return text


def eventually(
    check: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, message: str | None = None
) -> T:
    """``check()``'s first truthy value, polling every `interval` s for up to `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    error: BaseException | None = None
    while True:
        try:
            last = check()
            error = None
        except Exception as exc:  # not yet: keep polling, report it if it never passes
            last, error = None, exc
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(message, check, timeout, last, error)) from error
        time.sleep(interval)


def until_answered(
    send: Callable[[], Any], timeout: float = 30.0, retry_statuses: tuple[int, ...] = (503, 504)
) -> Any:
    """The JSON body of ``send()``'s first response whose status is not in `retry_statuses`
    (an httpx.Response; a request that raises is retried too)."""

    def attempt() -> Any:
        r = send()
        if r.status_code in retry_statuses:
            raise AssertionError(f"{r.status_code}: {r.text[:300]}")  # not now: polled again
        return (r.json(),)

    return eventually(attempt, timeout=timeout, interval=0.1, message="an answer other than 503/504")[0]


async def eventually_async(
    check: Callable[[], T | Awaitable[T]],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str | None = None,
) -> T:
    """`eventually` for asyncio: polls without blocking the loop; `check` may be async."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: Any = None
    error: BaseException | None = None
    while True:
        try:
            last = check()
            if inspect.isawaitable(last):
                last = await last
            error = None
        except Exception as exc:
            last, error = None, exc
        if last:
            return last  # type: ignore[no-any-return]
        if loop.time() >= deadline:
            raise AssertionError(_timed_out(message, check, timeout, last, error)) from error
        await asyncio.sleep(interval)
