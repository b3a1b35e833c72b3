"""SLA due dates (办理时限) worked out by hand: the 2026 National Day holiday and its make-up working days, hours
across midnight, a Friday evening start, clock stops, extensions, and a year the calendar package does not know.

2026 as published by the State Council (and checked against ``chinese_calendar`` in the first test): Oct 1 (Thu)
to Oct 7 (Wed) off; Sunday Sep 20 and Saturday Oct 10 are make-up working days (调休上班); Mid-Autumn Friday
Sep 25 is off. Times in the tests are Shanghai local; the database stores naive UTC (local − 8 h).
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import chinese_calendar
import pytest

from chengyun.cases import sla
from chengyun.cases.calendar import WorkCalendar
from chengyun.cases.service import CaseDesk, transition
from chengyun.core.db import migrate, session_scope
from chengyun.core.errors import InvalidInput
from chengyun.core.settings import Settings
from tests.cases.casebook import build_city, local, new_case, utc

HOURS_24, DAYS_1, DAYS_3, DAYS_5 = sla.Limit(24, "hours"), sla.Limit(1, "workdays"), sla.Limit(3, "workdays"), \
    sla.Limit(5, "workdays")


@pytest.fixture
def cal(tmp_path: Path) -> WorkCalendar:
    """A calendar with an (empty) operator holiday folder."""
    (tmp_path / "holidays").mkdir()
    return WorkCalendar(tmp_path / "holidays")


def due(start_local: datetime, limit: sla.Limit, cal: WorkCalendar, **kw: object) -> datetime | None:
    """The due time, local, for a clock started at a local time."""
    return local(sla.due_at(utc(*start_local.timetuple()[:5]), limit, calendar=cal, **kw))  # type: ignore[arg-type]


def test_the_2026_calendar_is_what_the_tests_assume(cal: WorkCalendar) -> None:
    rest = [date(2026, 10, d) for d in range(1, 8)] + [date(2026, 9, 25), date(2026, 9, 19), date(2026, 10, 11)]
    work = [date(2026, 9, 20), date(2026, 10, 10), date(2026, 9, 30), date(2026, 10, 8), date(2026, 10, 9)]
    for d in rest:
        assert not chinese_calendar.is_workday(d) and not cal.is_workday(d), d
    for d in work:
        assert chinese_calendar.is_workday(d) and cal.is_workday(d), d
    assert date(2026, 9, 20).weekday() == 6 and date(2026, 10, 10).weekday() == 5  # Sunday, Saturday
    assert cal.warnings == set()


def test_working_days_across_national_day(cal: WorkCalendar) -> None:
    # Wed Sep 30 16:00: the clock starts at midnight; Oct 1–7 off; Oct 8 (1), Oct 9 (2), Sat Oct 10 make-up (3)
    assert due(datetime(2026, 9, 30, 16, 0), DAYS_3, cal) == datetime(2026, 10, 11, 0, 0)
    # one working day from the eve of the holiday: all of Oct 8
    assert due(datetime(2026, 9, 30, 16, 0), DAYS_1, cal) == datetime(2026, 10, 9, 0, 0)
    # five: Oct 8, 9, 10 (Sat, make-up), 12, 13 — Sunday Oct 11 is a rest day
    assert due(datetime(2026, 9, 30, 16, 0), DAYS_5, cal) == datetime(2026, 10, 14, 0, 0)
    # a case arriving during the holiday: its clock starts on Oct 8
    assert due(datetime(2026, 10, 3, 11, 0), DAYS_1, cal) == datetime(2026, 10, 9, 0, 0)


def test_make_up_sunday_counts_as_a_working_day(cal: WorkCalendar) -> None:
    # Fri Sep 18 10:00: Sat Sep 19 off, Sun Sep 20 is a make-up working day
    assert due(datetime(2026, 9, 18, 10, 0), DAYS_1, cal) == datetime(2026, 9, 21, 0, 0)
    assert due(datetime(2026, 9, 18, 10, 0), sla.Limit(2, "workdays"), cal) == datetime(2026, 9, 22, 0, 0)


def test_working_days_from_a_friday_evening(cal: WorkCalendar) -> None:
    # an ordinary Friday evening: Sat, Sun off; Mon Nov 23 and Tue Nov 24 → Wednesday 00:00
    assert due(datetime(2026, 11, 20, 19, 30), sla.Limit(2, "workdays"), cal) == datetime(2026, 11, 25, 0, 0)
    # Fri Sep 18 20:00, five days: Sun 20 (make-up), Mon 21, Tue 22, Wed 23, Thu 24; Fri 25 is Mid-Autumn
    assert due(datetime(2026, 9, 18, 20, 0), DAYS_5, cal) == datetime(2026, 9, 25, 0, 0)
    # half a working day from that Friday evening: noon of the make-up Sunday
    assert due(datetime(2026, 9, 18, 20, 0), sla.Limit(0.5, "workdays"), cal) == datetime(2026, 9, 20, 12, 0)
    # Friday Oct 9 21:00 after the holiday: the next working day is Saturday Oct 10
    assert due(datetime(2026, 10, 9, 21, 0), DAYS_1, cal) == datetime(2026, 10, 11, 0, 0)


def test_hours_run_on_the_wall_clock(cal: WorkCalendar) -> None:
    # across midnight, and across the UTC date line of the stored value (22:30 local is 14:30 UTC)
    assert due(datetime(2026, 11, 25, 22, 30), sla.Limit(4, "hours"), cal) == datetime(2026, 11, 26, 2, 30)
    assert due(datetime(2026, 11, 25, 23, 59), sla.Limit(0.5, "hours"), cal) == datetime(2026, 11, 26, 0, 29)
    # hours ignore holidays: 24 h from the eve of National Day ends on Oct 1
    assert due(datetime(2026, 9, 30, 22, 0), HOURS_24, cal) == datetime(2026, 10, 1, 22, 0)
    # the stored value is naive UTC
    assert sla.due_at(utc(2026, 11, 25, 22, 30), sla.Limit(4, "hours"), calendar=cal) == datetime(2026, 11, 25, 18, 30)


def test_the_clock_stops_while_suspended(cal: WorkCalendar) -> None:
    start = datetime(2026, 11, 25, 9, 0)
    paused = [(utc(2026, 11, 25, 12, 0), utc(2026, 11, 25, 15, 0))]  # three hours waiting for the citizen
    assert due(start, HOURS_24, cal, pauses=paused) == datetime(2026, 11, 26, 12, 0)
    # while a pause is open the due time is unknown
    assert due(start, HOURS_24, cal, pauses=[(utc(2026, 11, 25, 12, 0), None)]) is None
    # working days: Mon 10:00 → clock from Tue 00:00; Tue 0–12 (½), paused to Wed 12:00, Wed 12–24 (1), Thu (2),
    # Fri (3) → Saturday 00:00
    pause = [(utc(2026, 11, 24, 12, 0), utc(2026, 11, 25, 12, 0))]
    assert due(datetime(2026, 11, 23, 10, 0), DAYS_3, cal, pauses=pause) == datetime(2026, 11, 28, 0, 0)
    # a pause over a weekend costs nothing on a working-day clock
    weekend = [(utc(2026, 11, 21, 8, 0), utc(2026, 11, 22, 20, 0))]
    assert due(datetime(2026, 11, 20, 19, 30), sla.Limit(2, "workdays"), cal, pauses=weekend) == \
        datetime(2026, 11, 25, 0, 0)
    # two spans, one inside the other, count once
    nested = [(utc(2026, 11, 25, 12, 0), utc(2026, 11, 25, 15, 0)),
              (utc(2026, 11, 25, 13, 0), utc(2026, 11, 25, 14, 0))]
    assert due(start, HOURS_24, cal, pauses=nested) == datetime(2026, 11, 26, 12, 0)


def test_an_approved_extension_adds_time_in_the_limits_unit(cal: WorkCalendar) -> None:
    # 3 + 2 working days from Sep 30 16:00: Oct 8, 9, 10, 12, 13 → Oct 14 00:00
    assert due(datetime(2026, 9, 30, 16, 0), DAYS_3, cal, extension=2) == datetime(2026, 10, 14, 0, 0)
    assert due(datetime(2026, 11, 25, 9, 0), HOURS_24, cal, extension=6) == datetime(2026, 11, 26, 15, 0)


def test_suspension_and_extension_through_the_service(tmp_path: Path) -> None:
    settings = Settings(workspace=tmp_path / "ws")
    migrate(settings)
    desk = CaseDesk.for_settings(settings)
    with session_scope(settings) as s:
        build_city(s)
        # E0101 (exposed rubbish): response 2 h, resolution 1 working day
        case = new_case(s, desk, created_at=utc(2026, 9, 30, 16, 0))
        assert local(case.response_due_at) == datetime(2026, 9, 30, 18, 0)
        assert local(case.due_at) == datetime(2026, 10, 9, 0, 0)
        transition(s, desk, case.id, "dispatch", department_id="cgj", at=utc(2026, 9, 30, 17, 0))
        transition(s, desk, case.id, "receive", at=utc(2026, 9, 30, 17, 30))
        transition(s, desk, case.id, "suspend", reason="等待市民补充材料", at=utc(2026, 9, 30, 19, 0))
        assert case.due_at is None and case.paused_since == utc(2026, 9, 30, 19, 0)
        # resumed Fri Oct 9 19:00: 5 h of Oct 9 are left, then the make-up Saturday brings 19 h → Oct 10 19:00
        transition(s, desk, case.id, "resume", at=utc(2026, 10, 9, 19, 0))
        assert local(case.due_at) == datetime(2026, 10, 10, 19, 0)
        assert case.pauses == [[utc(2026, 9, 30, 19, 0).isoformat(), utc(2026, 10, 9, 19, 0).isoformat()]]
        # one more working day approved: Sunday Oct 11 is off, Monday Oct 12 until 19:00
        transition(s, desk, case.id, "extend", hours=1, reason="需协调管线单位", at=utc(2026, 10, 10, 9, 0))
        assert local(case.due_at) == datetime(2026, 10, 12, 19, 0)
        assert case.extension == 1.0


def test_a_year_without_package_data_warns_until_the_holiday_file_exists(cal: WorkCalendar) -> None:
    assert cal.folder is not None
    # Thu Dec 31 2026 10:00, one working day. Without data for 2027 only weekends rest: Fri Jan 1 counts.
    assert due(datetime(2026, 12, 31, 10, 0), DAYS_1, cal) == datetime(2027, 1, 2, 0, 0)
    assert len(cal.warnings) == 1
    (warning,) = cal.warnings
    assert warning.startswith("2027:") and str(cal.folder / "2027.yaml") in warning

    # the operator adds the file: Jan 1 off, Sunday Jan 3 a make-up working day → due Monday Jan 4 00:00
    (cal.folder / "2027.yaml").write_text("holidays: [2027-01-01]\nworkdays: [2027-01-03]\n", encoding="utf-8")
    fresh = WorkCalendar(cal.folder)
    assert due(datetime(2026, 12, 31, 10, 0), DAYS_1, fresh) == datetime(2027, 1, 4, 0, 0)
    assert due(datetime(2026, 12, 31, 10, 0), sla.Limit(2, "workdays"), fresh) == datetime(2027, 1, 5, 0, 0)
    assert fresh.warnings == set()
    assert fresh.year(2027).source == "file" and fresh.year(2026).source == "chinese-calendar"


@pytest.mark.parametrize(("text", "message"), [
    ("holidays: [2027-01-01\n", "not valid YAML"),
    ("holidays: [2027-13-45]\n", "an impossible date (month must be in 1..12)"),
    ("holidays: ['2027-02-30']\n", "holidays[0] = '2027-02-30' is not a date"),
    ("- 2027-01-01\n", "expected a mapping with holidays and workdays"),
    ("holidays: 2027-01-01\n", "'holidays' must be a list of dates"),
    ("holidays: [2027-01-01]\nworkdays: [2028-01-02]\n", "workdays[0] = 2028-01-02 is not in 2027"),
])
def test_a_malformed_holiday_file_is_a_clear_error(cal: WorkCalendar, text: str, message: str) -> None:
    assert cal.folder is not None
    (cal.folder / "2027.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(InvalidInput) as err:
        cal.is_workday(date(2027, 1, 4))
    assert message in err.value.message and "2027.yaml" in err.value.message
    assert err.value.fix
