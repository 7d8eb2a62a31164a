"""Glue shared by the queue and timer functions: the run log line, `run_timer`, and the
validate / handle / retry-or-poison rules of a queue message (`run_queue_message`, over
`shared.queue_work`); each run opens its own adapters (`functions.wiring.Adapters`).

Every run logs one JSON line on the `functions.runs` logger (INFO, even when the host's root
level is WARNING), e.g.::

    {"event": "function_run", "function": "sms_sender", "trigger": "queue", "queue": "sms",
     "message_id": "...", "delivery_count": 1, "outcome": "ok", "done": 1, "skipped": 0,
     "failed": 0, "notes": {"sent": 1}}

`outcome` is "ok", "retry" (the handler raised; the host redelivers) or "poisoned" (a malformed
body, a permanent refusal, or a failure on the 5th delivery: a `PoisonNote` with the reason is
put on `<queue>-poison` through the bus and the message is completed). The `<queue>-poison`
queues are the dead-letter count; the host's own poison move (after 5 failed deliveries, if
poisoning through the bus failed too) is the last resort.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from functions.wiring import Adapters
from shared.queue_work import Tally, decide, poison_note, poison_queue, reason_of

M = TypeVar("M", bound=BaseModel)

run_log = logging.getLogger("functions.runs")
run_log.setLevel(logging.INFO)


def log_run(function: str, trigger: str, tally: Tally | None, **fields: Any) -> None:
    doc = {"event": "function_run", "function": function, "trigger": trigger, **fields}
    doc.update((tally or Tally()).as_fields())
    level = logging.WARNING if doc.get("outcome") in ("retry", "poisoned") else logging.INFO
    run_log.log(level, json.dumps(doc, default=str, separators=(",", ":")))


async def run_queue_message(
    *,
    function: str,
    queue: str,
    msg: func.ServiceBusMessage,
    model: type[M],
    handle: Callable[[M, Adapters], Awaitable[Tally]],
    resources: Adapters,
) -> None:
    """Validate the body as `model`, run `handle`, log the run; poison or re-raise on failure."""
    raw = msg.get_body()
    text = raw.decode("utf-8", errors="replace")
    delivery = int(msg.delivery_count or 1)
    transport_id = str(msg.message_id or "")
    fields: dict[str, Any] = {"queue": queue, "delivery_count": delivery}
    try:
        body = model.model_validate_json(raw)
    except ValidationError as exc:
        mid = _body_message_id(text) or transport_id
        reason = reason_of(exc)
        await _poison(resources, function, queue, text, mid, reason, delivery)
        failed = Tally().fail("malformed")
        log_run(function, "queue", failed, message_id=mid, outcome="poisoned", reason=reason, **fields)
        return
    mid = str(getattr(body, "message_id", None) or transport_id)
    fields.update(message_id=mid, tenant_id=getattr(body, "tenant_id", None))
    try:
        tally = await handle(body, resources)
    except Exception as exc:
        reason = reason_of(exc)
        if decide(exc, delivery) == "retry":
            log_run(
                function, "queue", Tally().fail(type(exc).__name__), outcome="retry", reason=reason, **fields
            )
            raise
        await _poison(resources, function, queue, text, mid, reason, delivery)
        log_run(
            function, "queue", Tally().fail(type(exc).__name__), outcome="poisoned", reason=reason, **fields
        )
        return
    log_run(function, "queue", tally, outcome="ok", **fields)


def _body_message_id(text: str) -> str | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    mid = doc.get("message_id") if isinstance(doc, dict) else None
    return mid if isinstance(mid, str) and 0 < len(mid) <= 200 else None


async def _poison(
    resources: Adapters, function: str, queue: str, text: str, mid: str, reason: str, delivery: int
) -> None:
    note = poison_note(
        queue=queue,
        function=function,
        body=text,
        message_id=mid or "unknown",
        reason=reason,
        delivery_count=delivery,
        now=resources.clock.now(),
    )
    await resources.bus.send(poison_queue(queue), note.model_dump(mode="json"), f"{note.message_id}:poison")


async def run_timer(
    function: str,
    timer: func.TimerRequest,
    work: Callable[[Adapters, str], Awaitable[tuple[Tally, dict[str, Any]]]],
) -> None:
    """Run one timer function: `work(resources, run_id)` returns its tally and extra log fields.

    One `function_run` line per run; a failure logs `outcome: "error"` and raises, so the host
    records the invocation as failed and the next schedule tries again."""
    run_id = str(uuid.uuid4())
    fields: dict[str, Any] = {"run_id": run_id, "past_due": bool(getattr(timer, "past_due", False))}
    async with Adapters() as r:
        try:
            tally, more = await work(r, run_id)
        except Exception as exc:
            log_run(
                function,
                "timer",
                Tally().fail(type(exc).__name__),
                outcome="error",
                reason=reason_of(exc),
                **fields,
            )
            raise
    log_run(function, "timer", tally, outcome="ok", **fields, **more)
