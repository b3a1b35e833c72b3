"""HTTP ingest: telemetry as JSON lines, NGSI-LD entity upserts and context-broker notifications."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
