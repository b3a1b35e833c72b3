"""The case intake benchmark's building blocks: a short open-loop run at a low rate against both apps on SQLite
must report as many requests as it scheduled, every one answered 201 and stored, at the rate it was asked for."""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

import pytest
from bench.cases_intake import Run, build_workspace, count_rows, measure, write_results

from bench import cases_intake


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A benchmark workspace on SQLite: its folder, URL and the operator's token."""
    ws = tmp_path_factory.mktemp("intake")
    url = f"sqlite:///{ws / 'chengyun.db'}"
    return ws, url, build_workspace(ws, url)


@pytest.mark.parametrize("kind", ["chengyun", "baseline"])
def test_short_run_reports_what_it_sent(workspace: tuple[Path, str, str], kind: str) -> None:
    ws, url, token = workspace
    args = argparse.Namespace(rate=10.0, seconds=1.5, serial=3, seed=3, timeout=30.0)
    r = measure(kind, url, ws, token, args)
    assert r["requests"] == 15
    assert r["ok"] == r["stored"] == 15, r["errors_by_status"]
    assert r["errors"] == 0 and r["errors_by_status"] == {}
    assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"] <= r["max_ms"] < 30_000
    assert r["sent_rps"] == pytest.approx(10.0, rel=0.2)
    assert 0 < r["serial_ms"] < 30_000


def test_intake_stores_cases_with_history_and_dispatch(workspace: tuple[Path, str, str]) -> None:
    ws, url, token = workspace
    cases_before = count_rows(url, "cases")
    events_before = count_rows(url, "case_events")
    body = {**cases_intake.case_body(random.Random(1)), "category": "E0101"}
    cases_intake.intake_once(*_desk(ws, url), token, body)
    assert count_rows(url, "cases") == cases_before + 1
    assert count_rows(url, "case_events") == events_before + 2  # accepted, then dispatched by the E01* rule


def _desk(ws: Path, url: str) -> tuple[Any, Any, str]:
    """What ``intake_once`` takes from the app: its session factory, case desk and secret."""
    from chengyun.cases.service import CaseDesk
    from chengyun.core.db import session_factory

    settings = cases_intake.settings_for(ws, url)
    return session_factory(settings), CaseDesk.for_settings(settings), settings.secret()


def test_summary_counts_unanswered_and_failed_requests() -> None:
    n = 100
    run = Run(rate=100.0, due=[i / 100 for i in range(n)], lag=[0.0] * n,
              latency=[(i + 1) / 1000 for i in range(n)], status=[201] * 97 + [401, 0, 0], ended=1.0)
    s = run.summary()
    assert (s["p50_ms"], s["p95_ms"], s["p99_ms"], s["max_ms"]) == pytest.approx((50, 95, 99, 100))
    assert s["ok"] == 97 and s["errors"] == 3
    assert s["errors_by_status"] == {"0": 2, "401": 1}
    assert s["sent_rps"] == pytest.approx(100.0)
    assert s["ok_rps"] == pytest.approx(97.0)


def test_results_section_is_replaced_not_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    results = tmp_path / "RESULTS.md"
    results.write_text("# results\n\n<!-- case-import -->\nimport\n<!-- /case-import -->\n", encoding="utf-8")
    monkeypatch.setattr(cases_intake, "RESULTS", results)
    write_results("<!-- case-intake -->\nfirst\n<!-- /case-intake -->\n")
    write_results("<!-- case-intake -->\nsecond\n<!-- /case-intake -->\n")
    text = results.read_text(encoding="utf-8")
    assert text.count("<!-- case-intake -->") == 1 and "second" in text and "first" not in text
    assert "<!-- case-import -->\nimport\n<!-- /case-import -->" in text
