"""The Azure Functions app's parts: the HTTP API (FastAPI, `http_api/`), one blueprint per domain
(`directory`, `voicemail`, `notifications`, `lifecycle`, `billing`, `quality`) for the timer,
queue and blob triggers, and the local functions host (`devhost/`)."""
