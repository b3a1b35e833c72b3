"""One JSON error shape for every error, pinned; security headers, request ids and operation ids."""

from __future__ import annotations

from fastapi.testclient import TestClient

DOCS_FIX = "correct the named field(s) and send the request again; the schema is at /api/v1/docs"


def test_not_found_shape(client: TestClient) -> None:
    r = client.get("/api/v1/evaluations/nope")
    assert r.status_code == 404
    assert r.json() == {
        "error": {
            "code": "not-found",
            "message": "evaluation run 'nope' does not exist",
            "fix": "see `chengyun evaluations list` or GET /api/v1/evaluations",
            "details": [],
        }
    }


def test_validation_error_shape_names_every_field(client: TestClient) -> None:
    r = client.get("/api/v1/evaluations", params={"limit": 0, "offset": -1})
    assert r.status_code == 422
    assert r.json() == {
        "error": {
            "code": "invalid-input",
            "message": "invalid input in query.limit, query.offset",
            "fix": DOCS_FIX,
            "details": [
                "query.limit: Input should be greater than or equal to 1",
                "query.offset: Input should be greater than or equal to 0",
            ],
        }
    }


def test_missing_body_fields(client: TestClient) -> None:
    r = client.post("/api/v1/evaluations", json={"pack": "x"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["message"] == "invalid input in body.tenant, body.period"
    assert err["details"] == ["body.tenant: Field required", "body.period: Field required"]


def test_service_errors_keep_their_own_shape(client: TestClient) -> None:
    r = client.get("/api/v1/evaluations", params={"period": "someday"})  # parse_period raises InvalidInput
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "invalid-input" and "someday" in r.json()["error"]["message"]
    assert r.json()["error"]["fix"].startswith("use 2026")


def test_framework_errors_use_the_same_shape(client: TestClient) -> None:
    r = client.get("/api/v1/no-such-thing")
    assert r.status_code == 404 and set(r.json()["error"]) == {"code", "message", "fix", "details"}
    assert r.json()["error"]["code"] == "not-found"
    r = client.delete("/api/v1/packs")
    assert r.status_code == 405 and r.json()["error"]["code"] == "method-not-allowed"
    assert "GET" in r.headers["allow"]


def test_console_errors_are_pages(client: TestClient) -> None:
    r = client.get("/evaluations/nope", headers={"accept": "text/html"})
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "evaluation run &#39;nope&#39; does not exist" in r.text and "chengyun evaluations list" in r.text


def test_security_headers_and_request_id(client: TestClient) -> None:
    r = client.get("/api/v1/packs")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    csp = r.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "http" not in csp
    assert len(r.headers["x-request-id"]) == 32
    assert (
        client.get("/api/v1/packs", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    )
    assert (
        len(client.get("/api/v1/packs", headers={"X-Request-ID": "bad id\t"}).headers["x-request-id"]) == 32
    )
    assert client.get("/api/v1/nope").headers["x-frame-options"] == "DENY"  # errors carry them too


def test_operation_ids_are_stable(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    ids = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {
        "list_packs",
        "get_pack",
        "list_evaluations",
        "get_evaluation",
        "create_evaluation",
        "get_evaluation_report",
        "list_tenants",
    } <= ids
    assert not any(
        p.startswith("/evaluations") or p == "/" for p in spec["paths"]
    )  # pages stay out of the API
