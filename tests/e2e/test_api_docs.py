"""The API documentation page draws in Chromium from this server alone: no request leaves it, no CSP violation."""

from __future__ import annotations

from pathlib import Path

import pytest

from chengyun.api.app import create_app
from chengyun.core.settings import Settings
from tests.conftest import CHROMIUM_ARGS
from tests.e2e.conftest import serving


@pytest.mark.browser
def test_swagger_ui_draws_offline_under_its_csp(tmp_path: Path, chromium: str) -> None:
    from playwright.sync_api import sync_playwright

    with serving(create_app(Settings(workspace=tmp_path / "ws"))) as origin, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            elsewhere: list[str] = []
            page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(origin) else None)
            page.goto(f"{origin}/api/v1/docs")
            page.wait_for_selector(".opblock", timeout=20000)
            # one block per operation of the OpenAPI document, counted from the document itself
            spec = page.evaluate("() => fetch('/api/v1/openapi.json').then(r => r.json())")
            operations = sum(len(ops) for ops in spec["paths"].values())
            assert page.locator(".opblock").count() == operations
            assert "OAS 3.1" in page.inner_text(".information-container")
        finally:
            browser.close()
    assert not [u for u in elsewhere if not u.startswith("data:")], elsewhere
    assert not problems, problems
