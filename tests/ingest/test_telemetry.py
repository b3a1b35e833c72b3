"""The platform telemetry decoder: reports, lists, times (ISO, epoch s/ms, missing), values, problems, JSON lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chengyun.ingest.telemetry import Sample, decode, decode_bytes, decode_lines, to_us

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
NOW_US = to_us(NOW)
T0 = datetime(2023, 11, 14, 22, 13, 20)  # 1_700_000_000 s
T0_US = 1_700_000_000_000_000


def test_one_report() -> None:
    d = decode({"ts": "2023-11-15T06:13:20+08:00", "values": {"temp": 21.5, "count": 3}}, "t1", "a1", NOW)
    assert d.valid and d.skipped == 0
    assert d.readings == [Sample("t1", "a1", "temp", T0_US, 21.5), Sample("t1", "a1", "count", T0_US, 3.0)]
    assert d.readings[0].ts == T0


def test_list_of_reports_and_booleans() -> None:
    d = decode([{"ts": 1_700_000_000, "values": {"on": True}}, {"ts": 1_700_000_001, "values": {"on": False}}],
               "t1", "a1", NOW)
    assert [(r.ts_us, r.value) for r in d.readings] == [(T0_US, 1.0), (T0_US + 1_000_000, 0.0)]


@pytest.mark.parametrize(("ts", "want"), [
    (1_700_000_000, T0_US),  # seconds
    (1_700_000_000.25, T0_US + 250_000),  # fractional seconds
    (1_700_000_000_123, T0_US + 123_000),  # milliseconds
    (99_999_999_999, 99_999_999_999_000_000),  # just below the switch: still seconds (year 5138)
    (100_000_000_000, 100_000_000_000_000),  # from 1e11 on: milliseconds (1973)
    ("2023-11-14T22:13:20Z", T0_US),
    (None, NOW_US),  # missing: the receive time
])
def test_times(ts: object, want: int) -> None:
    report: dict[str, object] = {"values": {"x": 1}}
    if ts is not None:
        report["ts"] = ts
    d = decode(report, "t1", "a1", NOW)
    assert d.valid, d.problems
    assert d.readings[0].ts_us == want


@pytest.mark.parametrize(("ts", "why"), [
    ("2023-11-14T22:13:20", "no time zone"),
    ("yesterday", "not an ISO 8601"),
    (1_700_000_000_000_000, "microseconds are not accepted"),
    (-5, "not a usable epoch"),
    (True, "boolean"),
])
def test_unusable_times_are_problems(ts: object, why: str) -> None:
    d = decode({"ts": ts, "values": {"x": 1}}, "t1", "a1", NOW)
    assert not d.valid and not d.readings
    assert why in d.reason()


def test_text_and_null_are_skipped_not_problems() -> None:
    d = decode({"ts": 1_700_000_000, "values": {"state": "open", "note": None, "temp": 2}}, "t1", "a1", NOW)
    assert d.valid and d.skipped == 2
    assert [r.metric for r in d.readings] == ["temp"]


@pytest.mark.parametrize(("payload", "why"), [
    ({"ts": 1, "values": {"x": {"nested": 1}}}, "the value is an object"),
    ({"ts": 1, "values": {"x": [1, 2]}}, "the value is a list"),
    ({"ts": 1}, "has no values"),
    ({"ts": 1, "values": []}, "values is a list"),
    ("hello", "a report is a text"),
    ([], "a list of 0 reports"),
])
def test_malformed_reports(payload: object, why: str) -> None:
    d = decode(payload, "t1", "a1", NOW)
    assert not d.valid and why in d.reason()


def test_one_problem_puts_the_whole_message_aside() -> None:
    d = decode([{"ts": 1_700_000_000, "values": {"x": 1}}, {"ts": "bad", "values": {"x": 2}}], "t1", "a1", NOW)
    assert not d.valid
    assert "#1" in d.reason()


@pytest.mark.parametrize(("raw", "why"), [
    (b"not json", "not JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b'{"ts": 1, "values": {"x": NaN}}', "is not a number"),
    (b'{"ts": 1, "values": {"x": Infinity}}', "is not a number"),
])
def test_bytes_problems(raw: bytes, why: str) -> None:
    d = decode_bytes(raw, "t1", "a1", NOW)
    assert not d.valid and why in d.reason()


def test_bad_tenant_from_the_topic_is_a_problem() -> None:
    d = decode_bytes(b'{"values": {"x": 1}}', "t 1/x", "a1", NOW)
    assert not d.valid and "tenant" in d.reason()


def test_naive_receive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decode({"values": {"x": 1}}, "t1", "a1", datetime(2026, 1, 1))


def test_json_lines() -> None:
    lines = [{"tenant": "t1", "asset_id": "a1", "ts": 1_700_000_000, "values": {"x": 1}},
             {"tenant": "t2", "asset_id": "b7", "values": {"y": True, "s": "ok"}}]
    raw = ("\n".join(json.dumps(x) for x in lines) + "\n\n").encode()
    d = decode_lines(raw, NOW)
    assert d.valid and d.skipped == 1
    assert d.readings == [Sample("t1", "a1", "x", T0_US, 1.0), Sample("t2", "b7", "y", NOW_US, 1.0)]


def test_json_lines_problems_name_the_line() -> None:
    raw = b'{"tenant": "t1", "asset_id": "a1", "values": {"x": 1}}\n[1]\n{"asset_id": "a"}\n{oops\n'
    d = decode_lines(raw, NOW)
    assert {p.index for p in d.problems} == {2, 3, 4}
    assert "tenant None" in d.reason()
