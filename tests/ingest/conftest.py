"""Fixtures of the HTTP ingest tests: the case tests' city, app and logins (districts 东区 and 西区, staff)."""

from tests.cases.conftest import api, auth, case_city  # noqa: F401 (fixtures used by test_http.py)
