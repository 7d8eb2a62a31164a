"""`python -m ops`: the operator CLI (`ops.cli`)."""

from __future__ import annotations

import sys

from ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
