"""Console pages of alarms (告警)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
