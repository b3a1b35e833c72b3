"""Console pages of the infrastructure (基础设施): assets, their telemetry, the quarantine."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
