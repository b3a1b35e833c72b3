"""Fixtures of the ingest tests: the case tests' city, app and logins (districts 东区 and 西区, staff) for HTTP;
the broker and fresh client ids for MQTT."""

from tests.cases.conftest import api, auth, case_city  # noqa: F401 (fixtures used by test_http.py)
from tests.ingest.mqtt_support import client_id, mqtt_url  # noqa: F401 (fixtures of the MQTT tests)
