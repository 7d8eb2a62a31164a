"""Local Azure Functions host: runs the function objects of a v2 Python app without Core Tools.

    python -m functions.devhost --app function_app:app --port 7071 --storage "<Azurite conn str>"

Everything served comes from ``app.get_functions()``:

- ``httpTrigger`` of an ``AsgiFunctionApp``: its ASGI app, served by uvicorn at the root (paths under
  host.json's ``extensions.http.routePrefix``, Azure's default ``api``, as Azure passes them through);
- ``timerTrigger``: NCRONTAB (seconds first, UTC) or ``hh:mm:ss``, honouring ``run_on_startup``;
- ``serviceBusTrigger``/``queueTrigger``: the Storage queue of that name, peek-lock style, retried after
  ``shared.queue_work.backoff`` (10, 30, 60, 120 s; ``--retry-delay`` for a fixed delay) and moved to
  ``<queue>-poison`` after 5 deliveries;
- ``blobTrigger``: polled, once per blob name + ETag, with receipts in ``--data-dir``;
- bindings: blob input, blob/queue/serviceBus output (``func.Out`` and ``$return``);
- ``POST /admin/functions/{name}`` with ``{"input": "..."}`` runs a non-HTTP function now (202); a queue
  function's JSON object input gets the envelope a bus adds (``message_id``, ``schema_version``).

Each invocation is one JSON line on stdout (``event: "invocation"``).

Modules: app_loader (import ``module:attr``), bindings (discovery, blob path patterns), ncrontab (pure
schedule logic), io_bindings (non-trigger bindings, expressions), messages (trigger argument objects),
invoker (call + log), timers, queues, blobs, receipts, storage, admin, asgi (routing), host (wiring),
__main__ (CLI).
"""
