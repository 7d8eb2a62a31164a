"""Structured logs: see `shared.logs` (one JSON object per line on stderr)."""

from shared.logs import JsonFormatter, configure_logging

__all__ = ["JsonFormatter", "configure_logging"]
