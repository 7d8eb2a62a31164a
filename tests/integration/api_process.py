"""One API process for tests: `create_app` under uvicorn on a given port.

    python -m tests.integration.api_process PORT SETTINGS_JSON

The settings are `IsolatedSettings(**json)`; the message bus records and sends nothing.
"""

from __future__ import annotations

import json
import sys

import uvicorn

from functions.http_api.app import create_app

from .test_api_accounts import IsolatedSettings, RecordingBus


def main() -> None:
    port, settings = int(sys.argv[1]), json.loads(sys.argv[2])
    app = create_app(IsolatedSettings(**settings), bus=RecordingBus())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
