"""Import the function app object named by ``module:attr``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import azure.functions as func


def load_app(spec: str, app_dir: Path | None = None) -> func.FunctionApp:
    """Import ``module:attr`` (attr defaults to ``app``), with ``app_dir`` (default: cwd) on sys.path."""
    module_name, _, attr = spec.partition(":")
    if not module_name:
        raise ValueError(f"invalid app spec {spec!r}; expected module:attr")
    root = str((app_dir or Path.cwd()).resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
    module = importlib.import_module(module_name)
    obj = getattr(module, attr or "app")
    if not isinstance(obj, func.FunctionRegister):
        raise TypeError(f"{spec} is {type(obj).__name__}, not an azure.functions function app")
    return obj
