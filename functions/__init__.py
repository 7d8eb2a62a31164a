"""The Azure Functions app's parts: the HTTP API (FastAPI) and, in later issues, blueprints
for timer, queue and blob triggers."""
