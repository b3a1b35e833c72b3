"""Property-based requests over the whole OpenAPI document (schemathesis): no input may cause a server error,
and every answer must match the schema the document gives for its status."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from chengyun.accounts import service
from chengyun.api.app import create_app
from chengyun.core.db import session_scope
from chengyun.core.settings import Settings

from .conftest import ADMIN, admin_client, bearer, build_small_city


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The small city, with runs to read and its administrator."""
    return build_small_city(tmp_path_factory.mktemp("schemathesis"))


@pytest.fixture(scope="module")
def api_schema(city: Settings) -> schemathesis.BaseSchema:
    """The app's own OpenAPI document, with the app as the transport (schemathesis runs its lifespan)."""
    return schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(city))


def admin_token(city: Settings) -> str:
    """A new token of the city administrator: a generated case may log out, revoking the token it was sent with."""
    with session_scope(city) as s:
        _, token = service.issue_token(
            s, service.get_user(s, ADMIN), kind="access", lifetime=timedelta(hours=1)
        )
    return token


schema = schemathesis.pytest.from_fixture("api_schema")


@schemathesis.serializer("application/x-ndjson")
def json_lines(_ctx: object, value: object) -> bytes:
    """The telemetry endpoint's body: the generated list as one JSON object a line."""
    items = value if isinstance(value, list) else [value]
    return "\n".join(json.dumps(item) for item in items).encode()


@schema.parametrize()
@settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_match_the_schema(case: schemathesis.Case, city: Settings) -> None:
    response = case.call(headers=bearer(admin_token(city)))
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])


def test_timestamps_carry_an_offset(city: Settings) -> None:
    with admin_client(city) as client:
        created = client.get("/api/v1/tokens").json()[0]["created_at"]
        at = client.get("/api/v1/audit").json()["items"][0]["at"]
    assert (
        datetime.fromisoformat(created).tzinfo is not None and datetime.fromisoformat(at).tzinfo is not None
    )

