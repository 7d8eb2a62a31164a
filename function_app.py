"""Azure Functions entry point (Python v2 model): wiring only.

Telemetry first (shared/telemetry.py), then one app object: the HTTP API is the FastAPI app
inside AsgiFunctionApp, and the timer, queue and blob functions come from one blueprint per
domain, registered on that same app.
"""

import azure.functions as func

from functions import billing, directory, lifecycle, notifications, quality, voicemail
from functions.http_api.app import create_app
from shared.settings import get_settings
from shared.telemetry import setup_telemetry

# Before the FastAPI app is built, so the Azure Monitor distro instruments it; a no-op (nothing
# imported) unless APPLICATIONINSIGHTS_CONNECTION_STRING is set.
setup_telemetry("cloudpbx-functions", get_settings(), distro=True)
app = func.AsgiFunctionApp(app=create_app(), http_auth_level=func.AuthLevel.ANONYMOUS)
for blueprint in (directory, voicemail, notifications, lifecycle, billing, quality):
    app.register_functions(blueprint.bp)
