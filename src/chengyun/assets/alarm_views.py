"""REST API of alarms (告警) and alarm rules under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
