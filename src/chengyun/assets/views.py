"""REST API of the asset registry (设备/系统台账) under /api/v1."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
