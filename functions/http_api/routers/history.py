"""The History DB's routes under /api/v1: call history, voicemails, activities and stats."""

from __future__ import annotations

from fastapi import APIRouter

from . import activities, call_history, stats, voicemails

router = APIRouter(prefix="/api/v1")
for _module in (call_history, voicemails, activities, stats):
    router.include_router(_module.router)
