"""Glue shared by the queue and timer functions: the run log line, `run_timer`, and the queue
functions themselves (`queue_function`): decode, check, handle, settle, on either transport.

**Transport.** `queue_function(bp, name=..., queue=..., model=..., handle=...)` registers the
function when its module is imported, with the trigger `shared.adapters.bus_transport.transport`
picks from the same settings the producers' bus is built from (`make_bus`):

- "servicebus" (ServiceBusConnection or ServiceBusConnection__fullyQualifiedNamespace set): a
  `serviceBusTrigger` on connection "ServiceBusConnection" with `autoCompleteMessages` false; the
  function takes the SDK-type `ServiceBusReceivedMessage` and `ServiceBusMessageActions`
  (azurefunctions-extensions-bindings-servicebus) and settles each message itself.
- "storage" (otherwise; Azurite locally): a `queueTrigger` on "AzureWebJobsStorage"; the host
  (functions/devhost locally) deletes the message when the function returns and makes it
  visible again when it raises.

**One message** (`run_queue_message`): the body must be a JSON object ("undecodable" otherwise),
pass `shared.message_contract.check_message` and then the queue's pydantic model
("schema-violation", with the validation error as the description); the handler then runs
inside the message's trace context (`traceparent`, `shared.tracing.use_traceparent`). The outcome
follows `shared.queue_work.settle`: complete; retry after `backoff(attempt)` (10 s, 30 s, 60 s,
120 s); or dead-letter with a reason code and a description (a permanent `Rejected` failure at
once, any failure on the 5th attempt as "max-deliveries").

- complete: Service Bus `complete`; Storage: return (the host deletes the message).
- retry: Service Bus: a copy scheduled at now + backoff (MessageId `<id>:attempt-<n>`, the
  attempt in the `pbx-attempt` property; the body, `message_id` included, unchanged), then
  `complete`; if that send fails, `abandon` (the broker redelivers at once, and the queue's
  `maxDeliveryCount` 5 is the backstop). Storage: raise, and the host makes the message visible
  again after the backoff (functions/devhost/queues.py).
- dead letter: Service Bus `deadletter(reason, description)`, into the queue's own dead-letter
  queue. Storage: a `PoisonNote` (`dead_letter_reason`, `dead_letter_error_description`) on
  `<queue>-poison`, then return.

The attempt is the Service Bus copy's `pbx-attempt` plus its redeliveries, or the Storage
message's dequeue count.

Every run logs one `function_run` record on the `functions.runs` logger (INFO, even when the
host's root level is WARNING; WARNING for retries and dead letters), its fields structured
(`extra=`), e.g.::

    {"event": "function_run", "function": "sms_sender", "trigger": "queue", "queue": "sms",
     "message_id": "...", "delivery_count": 1, "outcome": "ok", "done": 1, "skipped": 0,
     "failed": 0, "notes": {"sent": 1}, "trace_id": "..."}

`outcome` is "ok", "retry" or "poisoned" (dead-lettered; `dead_letter_reason` says why).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import azure.functions as func
from pydantic import BaseModel, ValidationError

from functions.wiring import Adapters
from shared.adapters.bus_transport import SERVICE_BUS_CONNECTION, STORAGE_CONNECTION, transport
from shared.message_contract import SchemaViolation, check_message
from shared.queue_work import (
    SCHEMA_VIOLATION,
    UNDECODABLE,
    Complete,
    DeadLetter,
    Outcome,
    Retry,
    Tally,
    poison_note,
    poison_queue,
    reason_of,
    settle,
    validation_reason,
)
from shared.settings import get_settings
from shared.tracing import use_traceparent

M = TypeVar("M", bound=BaseModel)

run_log = logging.getLogger("functions.runs")
run_log.setLevel(logging.INFO)

OUTCOME_NAMES = {Complete: "ok", Retry: "retry", DeadLetter: "poisoned"}
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def log_run(function: str, trigger: str, tally: Tally | None, **fields: Any) -> None:
    """One `function_run` record, its fields structured (the JSON log formatter and Azure
    Monitor keep them as fields)."""
    doc = {"event": "function_run", "function": function, "trigger": trigger, **fields}
    doc.update((tally or Tally()).as_fields())
    level = logging.WARNING if doc.get("outcome") in ("retry", "poisoned", "error") else logging.INFO
    # A field named like a LogRecord attribute ("name", "msg", ...) would be refused: suffix it.
    extra = {(f"{k}_" if k in _RECORD_ATTRIBUTES else k): v for k, v in doc.items()}
    run_log.log(level, "function_run", extra=extra)


@dataclass(frozen=True)
class Delivery:
    """One delivery of a message: its idempotency key (the body's `message_id`, else the
    transport's id), the transport's id, and the attempt number (1-based)."""

    message_id: str
    transport_id: str
    attempt: int


Handler = Callable[[M, Adapters, Delivery], Awaitable[Tally]]


@dataclass
class Processed:
    """What handling one message came to: its outcome, decoded body (None when undecodable),
    idempotency key and text, and the handler's error when it raised."""

    outcome: Outcome
    doc: dict[str, Any] | None
    message_id: str
    text: str
    error: BaseException | None = None


Settler = Callable[[Processed], Awaitable[None]]


def decode(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """The body as a JSON object, or None and why not."""
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return None, f"invalid body: not JSON: {exc}"
    if not isinstance(doc, dict):
        return None, f"invalid body: a JSON {type(doc).__name__}, not an object"
    return doc, ""


def _body_message_id(doc: dict[str, Any] | None) -> str | None:
    mid = doc.get("message_id") if doc else None
    return mid if isinstance(mid, str) and 0 < len(mid) <= 200 else None


async def run_queue_message(
    *,
    function: str,
    queue: str,
    raw: bytes,
    transport_id: str,
    attempt: int,
    model: type[M],
    handle: Handler[M],
    resources: Adapters,
    settler: Settler,
) -> None:
    """Decode, check and handle one message, settle it with `settler`, log the run."""
    text = raw.decode("utf-8", errors="replace")
    doc, problem = decode(raw)
    mid = _body_message_id(doc) or transport_id
    traceparent = doc.get("traceparent") if doc else None
    fields: dict[str, Any] = {"queue": queue, "delivery_count": attempt, "message_id": mid}
    tally = Tally()
    with use_traceparent(
        traceparent if isinstance(traceparent, str) else None, f"{queue} process", "consumer"
    ):
        processed = Processed(Complete(), doc, mid, text)
        if doc is None:
            processed.outcome = DeadLetter(UNDECODABLE, problem)
        else:
            body: M | None = None
            try:
                check_message(queue, doc)
                body = model.model_validate(doc)
            except SchemaViolation as exc:
                processed.outcome = DeadLetter(SCHEMA_VIOLATION, str(exc))
            except ValidationError as exc:
                processed.outcome = DeadLetter(SCHEMA_VIOLATION, validation_reason(exc))
            if body is not None:
                fields["tenant_id"] = getattr(body, "tenant_id", None)
                try:
                    tally = await handle(body, resources, Delivery(mid, transport_id, attempt))
                except Exception as exc:
                    processed.error = exc
                    processed.outcome = settle(exc, attempt)
                    tally = Tally().fail(type(exc).__name__)
        outcome = processed.outcome
        if isinstance(outcome, DeadLetter):
            fields.update(reason=outcome.description, dead_letter_reason=outcome.reason)
            if processed.error is None:
                tally = Tally().fail("malformed")
        elif isinstance(outcome, Retry):
            fields.update(reason=reason_of(processed.error or Exception()), retry_after_s=outcome.after)
        try:
            await settler(processed)
        finally:
            log_run(function, "queue", tally, outcome=OUTCOME_NAMES[type(outcome)], **fields)


# --- Storage queues: the host settles (delete on return, visible again after a raise)


def storage_settler(resources: Adapters, function: str, queue: str, attempt: int) -> Settler:
    async def settle_on_storage(p: Processed) -> None:
        outcome = p.outcome
        if isinstance(outcome, Retry):
            assert p.error is not None
            raise p.error
        if isinstance(outcome, DeadLetter):
            note = poison_note(
                queue=queue,
                function=function,
                body=p.text,
                message_id=p.message_id or "unknown",
                reason=outcome.description,
                code=outcome.reason,
                delivery_count=attempt,
                now=resources.clock.now(),
            )
            await resources.bus.send(
                poison_queue(queue), note.model_dump(mode="json"), f"{note.message_id}:poison"
            )

    return settle_on_storage


# --- Service Bus: the function settles through the message actions


class MessageActions(Protocol):
    """What the SDK-type `ServiceBusMessageActions` offers (the calls used here)."""

    def complete(self, message: Any) -> None: ...

    def abandon(self, message: Any) -> None: ...

    def deadletter(
        self,
        message: Any,
        deadletter_reason: str | None = None,
        deadletter_error_description: str | None = None,
    ) -> None: ...


@runtime_checkable
class Rescheduling(Protocol):
    """A bus that can queue a copy for later (`ServiceBusBus.send_later`)."""

    async def send_later(
        self, queue: str, doc: dict[str, Any], *, message_id: str, attempt: int, at: dt.datetime
    ) -> None: ...


def service_bus_settler(resources: Adapters, queue: str, message: Any, actions: MessageActions) -> Settler:
    async def settle_on_service_bus(p: Processed) -> None:
        outcome = p.outcome
        if isinstance(outcome, Complete):
            actions.complete(message)
        elif isinstance(outcome, DeadLetter):
            actions.deadletter(
                message, deadletter_reason=outcome.reason, deadletter_error_description=outcome.description
            )
        else:
            bus = resources.bus
            try:
                if p.doc is None or not isinstance(bus, Rescheduling):
                    raise TypeError("no bus to schedule the retry on")
                at = resources.clock.now() + dt.timedelta(seconds=outcome.after)
                await bus.send_later(
                    queue, p.doc, message_id=p.message_id, attempt=outcome.attempt + 1, at=at
                )
            except Exception:
                actions.abandon(message)
                raise
            actions.complete(message)

    return settle_on_service_bus


def _service_bus_body(message: Any) -> bytes:
    body = message.body
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    if isinstance(body, str):
        return body.encode()
    try:
        return b"".join(bytes(part) for part in body)
    except TypeError:
        return str(message).encode()


# --- registration


def queue_function(
    bp: func.Blueprint,
    *,
    name: str,
    queue: str,
    model: type[M],
    handle: Handler[M],
    doc: str | None = None,
) -> Callable[..., Awaitable[None]]:
    """Register `name` on `bp` as the consumer of `queue`, with the trigger of this deployment's
    transport (see the module docstring), and return the function."""
    if transport(get_settings()) == "servicebus":
        import azurefunctions.extensions.bindings.servicebus as servicebus

        async def on_service_bus(msg: Any, message_actions: Any) -> None:
            from shared.adapters.service_bus import attempt_of

            attempt = attempt_of(msg.application_properties, msg.delivery_count)
            async with Adapters() as r:
                await run_queue_message(
                    function=name,
                    queue=queue,
                    raw=_service_bus_body(msg),
                    transport_id=str(msg.message_id or ""),
                    attempt=attempt,
                    model=model,
                    handle=handle,
                    resources=r,
                    settler=service_bus_settler(r, queue, msg, message_actions),
                )

        # The worker binds SDK types by the parameters' annotations: real classes, not strings.
        on_service_bus.__annotations__ = {
            "msg": servicebus.ServiceBusReceivedMessage,
            "message_actions": servicebus.ServiceBusMessageActions,
            "return": None,
        }
        fn: Callable[..., Awaitable[None]] = on_service_bus
        decorate = bp.service_bus_queue_trigger(
            arg_name="msg",
            queue_name=queue,
            connection=SERVICE_BUS_CONNECTION,
            auto_complete_messages=False,
        )
    else:

        async def on_storage_queue(msg: func.QueueMessage) -> None:
            attempt = int(msg.dequeue_count or 1)
            async with Adapters() as r:
                await run_queue_message(
                    function=name,
                    queue=queue,
                    raw=msg.get_body(),
                    transport_id=str(msg.id or ""),
                    attempt=attempt,
                    model=model,
                    handle=handle,
                    resources=r,
                    settler=storage_settler(r, name, queue, attempt),
                )

        on_storage_queue.__annotations__ = {"msg": func.QueueMessage, "return": None}
        fn = on_storage_queue
        decorate = bp.queue_trigger(arg_name="msg", queue_name=queue, connection=STORAGE_CONNECTION)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.__module__ = getattr(handle, "__module__", fn.__module__)
    bp.function_name(name)(decorate(fn))
    return fn


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
