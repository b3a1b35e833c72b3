"""HTTP ingest (接入): telemetry as JSON lines, NGSI-LD entity upserts and context-broker notifications.

Every route answers only once what it was sent is durable — its readings in the write-ahead log, or the whole
message in the quarantine with the reason — so a client that got a 2xx never has to send again. The caller needs
``telemetry.write`` on the tenant of every reading. Readings are data, not changes of state: they are kept in the
lake with their source, not in the audit log; assets registered on the way (an NGSI-LD entity the registry did
not know) are audited as such.

NGSI-LD: the tenant is the ``NGSILD-Tenant`` header (``Fiware-Service`` for NGSI v2, or ``?tenant=`` where a
subscription cannot set headers). Each entity of an upsert is taken in on its own: 204 when all were stored, 201
with the ids of the entities registered as new assets, 207 with the entities that were put aside and why.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from chengyun.api.deps import finish, principal_of, scoped
from chengyun.assets.models import Asset
from chengyun.assets.schemas import AssetCreate
from chengyun.assets.service import add_asset
from chengyun.core.errors import Forbidden, InvalidInput
from chengyun.core.scoping import unscoped
from chengyun.ingest import ngsi
from chengyun.ingest.decoders import Message
from chengyun.ingest.guard import owners_of
from chengyun.ingest.hub import IngestHub
from chengyun.ingest.pipeline import Accepted
from chengyun.ingest.telemetry import decode_lines

router = APIRouter(tags=["ingest 接入"])
TelemetrySession = Annotated[Session, scoped("telemetry.write")]
TenantHeader = Annotated[str | None, Header(alias="NGSILD-Tenant", max_length=64)]
ServiceHeader = Annotated[str | None, Header(alias="Fiware-Service", max_length=64)]
TenantQuery = Annotated[str | None, Query(max_length=64, description="unit id, where no header can be set")]
NGSI_BODY: dict[str, Any] = {"requestBody": {"content": {"application/json": {"schema": {}}, "application/ld+json": {"schema": {}}}}}
_LINE = {"type": "object", "required": ["tenant", "asset_id", "values"], "properties": {
    "tenant": {"type": "string"}, "asset_id": {"type": "string"},
    "ts": {"description": "ISO 8601 with a zone, or epoch seconds or milliseconds; missing: the time received"},
    "values": {"type": "object", "additionalProperties": {"type": ["number", "boolean", "string", "null"]}}}}
LINES_BODY: dict[str, Any] = {"requestBody": {"content": {"application/x-ndjson": {
    "schema": {"type": "array", "items": _LINE, "description": "one JSON object a line"}}}}}
ERROR_TYPE = "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
SENSOR_TYPES = ("Observed", "Device", "Parking", "Sensor", "Meter")  # entity types registered as sensors


class TelemetryResult(BaseModel):
    """What became of a telemetry post: readings stored, already stored (a resend), values skipped (text, null)."""

    readings: int
    duplicates: int
    skipped: int


def hub_of(request: Request) -> IngestHub:
    """The app's ingest hub."""
    hub: IngestHub = request.app.state.ingest
    return hub


def _no_generic_audit(session: Session) -> None:
    session.info.pop("write", None)  # readings are data: the lake keeps them, the audit log keeps changes


# ---- the platform's own telemetry ----------------------------------------------------------------------------


@router.post("/api/v1/telemetry", status_code=status.HTTP_202_ACCEPTED, openapi_extra=LINES_BODY)
async def post_telemetry(
    request: Request,
    session: TelemetrySession,
    tenant: TenantQuery = None,
    asset_id: Annotated[str | None, Query(max_length=64, description="with tenant: the body is one report")] = None,
) -> TelemetryResult:
    """Readings as JSON lines (``{"tenant", "asset_id", "ts", "values": {metric: number}}`` per line), or one
    report ``{"ts", "values"}`` (or a list) for ``?tenant=&asset_id=``; 202 once durable, 422 when put aside."""
    raw = await request.body()
    return await run_in_threadpool(_take_telemetry, hub_of(request), session, raw, tenant, asset_id)


def _take_telemetry(hub: IngestHub, session: Session, raw: bytes, tenant: str | None,
                    asset_id: str | None) -> TelemetryResult:
    if (tenant is None) != (asset_id is None):
        raise InvalidInput("tenant/asset_id: give both (one report) or neither (JSON lines naming their own)",
                           fix="POST /api/v1/telemetry?tenant=UNIT&asset_id=ID with one report, or JSON lines")
    principal, now = principal_of(session), datetime.now(UTC)
    named = {(tenant, asset_id)} if tenant and asset_id else {(r.tenant, r.asset_id)
                                                             for r in decode_lines(raw, now).readings}
    for t in sorted({t for t, _ in named}):
        principal.require("telemetry.write", t)
    owners = _owners_in_reach(session, {a for _, a in named})
    done = hub.ingestor().accept("http", raw, tenant, asset_id, now, owners=owners)
    _no_generic_audit(session)
    finish(session)
    if done.quarantined:
        raise InvalidInput(f"telemetry put aside: {done.reason}",
                           fix="fix the payload and send it again; this one is kept in the quarantine "
                           "(`chengyun ingest quarantine`)")
    return TelemetryResult(readings=done.stored, duplicates=done.duplicates, skipped=done.skipped)


def _owners_in_reach(session: Session, asset_ids: set[str]) -> dict[str, tuple[str, ...]]:
    """The registered unit of each named asset; Forbidden, naming the asset, when one is outside the caller's
    reach (the readings would change its status and raise its alarms)."""
    owners = owners_of(session, asset_ids)
    principal = principal_of(session)
    for asset, chain in sorted(owners.items()):
        if not principal.can("telemetry.write", chain[0]):
            raise Forbidden(f"asset {asset} is registered under a unit outside your reach: no readings of it are "
                            "accepted from you", fix="send readings only for the assets of your own units "
                            "(GET /api/v1/assets lists them)")
    return owners


# ---- NGSI-LD and NGSI v2 -------------------------------------------------------------------------------------


def _tenant(*given: str | None) -> str:
    for t in given:
        if t:
            return t
    raise InvalidInput("tenant: no NGSILD-Tenant header (nor Fiware-Service, nor ?tenant=)",
                       fix="send the header NGSILD-Tenant: <unit id> (see GET /api/v1/tenants)")


def _entities(body: Any) -> list[Any]:
    """The entities of an upsert body, one entity, or a notification (NGSI-LD or v2)."""
    if isinstance(body, dict) and ("subscriptionId" in body or body.get("type") == "Notification"):
        data = body.get("data")
        return data if isinstance(data, list) else [data]
    return body if isinstance(body, list) else [body]


@router.post("/ngsi-ld/v1/entityOperations/upsert", openapi_extra=NGSI_BODY, response_model=None)
async def ngsi_upsert(request: Request, session: TelemetrySession, tenant_header: TenantHeader = None,
                      service_header: ServiceHeader = None, tenant: TenantQuery = None) -> Response:
    """NGSI-LD batch upsert: each entity's numeric and boolean properties become readings at their
    ``observedAt``; an entity the registry does not know is registered as an asset of its type."""
    raw = await request.body()
    return await run_in_threadpool(_take_ngsi, hub_of(request), session, raw,
                                   _tenant(tenant_header, service_header, tenant))


@router.post("/ngsi-ld/v1/notify", openapi_extra=NGSI_BODY, response_model=None)
async def ngsi_notify(request: Request, session: TelemetrySession, tenant_header: TenantHeader = None,
                      service_header: ServiceHeader = None, tenant: TenantQuery = None) -> Response:
    """The endpoint for a context broker's subscription (Orion-LD, Orion, Scorpio): NGSI-LD or NGSI v2
    notifications, taken in like an upsert."""
    raw = await request.body()
    return await run_in_threadpool(_take_ngsi, hub_of(request), session, raw,
                                   _tenant(tenant_header, service_header, tenant))


def _take_ngsi(hub: IngestHub, session: Session, raw: bytes, tenant: str) -> Response:
    principal, now = principal_of(session), datetime.now(UTC)
    principal.require("telemetry.write", tenant)
    whole = ngsi.decode_bytes(raw, now, assume_tz=UTC)
    owners = _owners_in_reach(session, {i.id for i in whole.entities if i.id})
    if not whole.entities and whole.problems:  # not JSON, or no entity at all: keep the bytes, say why
        hub.ingestor().accept("ngsi-ld", raw, tenant, None, now)
        _no_generic_audit(session)
        finish(session)
        raise InvalidInput(f"NGSI-LD payload put aside: {whole.problems[0].reason}", fix=whole.problems[0].fix)
    entities = _entities(json.loads(raw))
    messages = [Message("ngsi-ld", json.dumps(e, ensure_ascii=False).encode(), tenant, None, now) for e in entities]
    results = hub.ingestor().accept_many(messages, owners)
    stored = {i for i, r in enumerate(results) if not r.quarantined}
    created = _register(session, tenant, [info for info in whole.entities if info.index in stored])
    owners_cache = hub.ingestor().guard.owners
    if created and owners_cache is not None:
        owners_cache.forget()  # the new assets' unit holds for MQTT readings at once
    if not created:
        _no_generic_audit(session)
    finish(session)
    return _ngsi_answer(entities, results, created)


def _ngsi_answer(entities: list[Any], results: list[Accepted], created: list[str]) -> Response:
    errors = [{"entityId": e.get("id") if isinstance(e, dict) else None,
               "error": {"type": ERROR_TYPE, "title": "put aside", "detail": r.reason}}
              for e, r in zip(entities, results, strict=True) if r.quarantined]
    if errors:
        ok = [e.get("id") for e, r in zip(entities, results, strict=True) if not r.quarantined and isinstance(e, dict)]
        return JSONResponse({"success": ok, "errors": errors}, status_code=207)
    if created:
        return JSONResponse(created, status_code=status.HTTP_201_CREATED)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _kind(entity_type: str) -> str:
    return "sensor" if any(word in entity_type for word in SENSOR_TYPES) else "other-device"


def _register(session: Session, tenant: str, entities: list[ngsi.EntityInfo]) -> list[str]:
    """Register the entities the registry does not know as assets of their type, in ``tenant``; their ids."""
    infos = {i.id: i for i in entities if i.id}
    if not infos:
        return []
    with unscoped(session):  # ids are unique across the registry: another unit's asset is not registered again
        known = set(session.scalars(select(Asset.id).where(Asset.id.in_(list(infos)))))
    created = []
    for entity_id, info in infos.items():
        if entity_id in known:
            continue
        try:
            spec = AssetCreate.model_validate({
                "id": entity_id, "tenant": tenant, "name": (info.name or entity_id)[:200], "kind": _kind(info.type),
                "lat": info.lat, "lon": info.lon, "attributes": {"ngsi_type": info.type, "source": "ngsi-ld"}})
        except ValueError:  # an id the registry cannot hold (too long, odd characters): readings are kept anyway
            continue
        add_asset(session, spec)
        created.append(entity_id)
    return created
