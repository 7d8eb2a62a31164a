"""Azure Functions entry point (Python v2 model): wiring only.

One app object: the HTTP API is the FastAPI app inside AsgiFunctionApp, and the timer,
queue and blob functions come from blueprints registered on that same app.
"""

import azure.functions as func

from functions import analytics, blobs, messaging, queues, reports, voicemail
from functions import timers as timer_jobs
from functions.http_api.app import create_app

app = func.AsgiFunctionApp(app=create_app(), http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(queues.bp)
app.register_functions(blobs.bp)
app.register_functions(voicemail.bp)
app.register_functions(messaging.bp)
app.register_functions(timer_jobs.bp)
app.register_functions(reports.bp)
app.register_functions(analytics.bp)
