"""Azure Functions entry point (Python v2 model): wiring only."""

import azure.functions as func

from functions.http_api.app import create_app

app = func.AsgiFunctionApp(app=create_app(), http_auth_level=func.AuthLevel.ANONYMOUS)
