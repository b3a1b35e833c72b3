"""Periods: parsing, bounds in UTC, previous period, clipping."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from chengyun.core.errors import InvalidInput
from chengyun.core.periods import parse_period, recent_quarters


@pytest.mark.parametrize(
    ("text", "kind", "start", "end"),
    [
        ("2026", "year", date(2026, 1, 1), date(2027, 1, 1)),
        ("2026Q3", "quarter", date(2026, 7, 1), date(2026, 10, 1)),
        ("2026q4", "quarter", date(2026, 10, 1), date(2027, 1, 1)),
        ("2026-07", "month", date(2026, 7, 1), date(2026, 8, 1)),
        ("2026-12", "month", date(2026, 12, 1), date(2027, 1, 1)),
        ("2026-01-01..2026-03-31", "range", date(2026, 1, 1), date(2026, 4, 1)),
    ],
)
def test_parse(text: str, kind: str, start: date, end: date) -> None:
    p = parse_period(text)
    assert (p.kind, p.start, p.end) == (kind, start, end)


@pytest.mark.parametrize("text", ["2026Q5", "26", "2026-13", "2026-02-30..2026-03-01", "2026-03-01..2026-02-01", "last year"])
def test_bad_periods_say_what_to_write(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_period(text)
    assert exc.value.fix


def test_bounds_are_local_midnight_in_utc() -> None:
    start, end = parse_period("2026Q3").bounds_utc("Asia/Shanghai")
    assert start == datetime(2026, 6, 30, 16) and end == datetime(2026, 9, 30, 16)


@pytest.mark.parametrize(("text", "prev"), [("2026Q1", "2025Q4"), ("2026Q3", "2026Q2"), ("2026-01", "2025-12"),
                                           ("2026", "2025"), ("2026-03-11..2026-03-20", "2026-03-01..2026-03-10")])
def test_previous(text: str, prev: str) -> None:
    assert parse_period(text).previous().label == prev


def test_recent_quarters_and_clip() -> None:
    qs = recent_quarters(date(2026, 11, 26))
    assert [q.label for q in qs] == ["2025Q4", "2026Q1", "2026Q2", "2026Q3", "2026Q4"]
    assert qs[-1].clipped(date(2026, 11, 26)).end == date(2026, 11, 27)
    assert qs[0].clipped(date(2026, 11, 26)) == qs[0]


@pytest.mark.parametrize("text", ["2026-01-01..9999-12-31", "9999", "9999Q4", "9999-12", "0001-01-01..0001-01-02",
                                  "1969", "2201-01"])
def test_periods_out_of_the_years_are_refused_not_crashed(text: str) -> None:
    with pytest.raises(InvalidInput, match="period"):
        parse_period(text)


def test_the_years_edges_are_periods() -> None:
    assert parse_period("1970").start == date(1970, 1, 1)
    assert parse_period("2199Q4").end == date(2200, 1, 1)
