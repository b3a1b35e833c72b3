"""Alarms (告警): thresholds held for a while, rates, absence, one open alarm per asset and rule, the lifecycle,
cases opened and resolved with alarms, rule YAML, scoping, the ingest's listener; on SQLite and PostgreSQL.

Times and values are written out by hand; ``T0`` is the first reading of each test."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from typer.testing import CliRunner

from chengyun.accounts.models import AuditEntry
from chengyun.assets import alarms
from chengyun.assets.alarm_schemas import AlarmRuleSet
from chengyun.assets.models import Alarm, Asset
from chengyun.cases.models import Case
from chengyun.cases.service import CaseDesk, history
from chengyun.cli.main import app
from chengyun.core.db import migrate, session_scope
from chengyun.core.errors import Conflict, InvalidInput, NotFound
from chengyun.core.settings import Settings
from chengyun.tenancy.service import add_unit
from tests.assets.conftest import CITY, EAST, PORT, WEST, make, scoped

T0 = datetime(2026, 11, 25, 6, 0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def readings(*rows: tuple[str, str, float, float | None]) -> pa.Table:
    """A lake batch from (asset, metric, seconds after T0, value), each under its district."""
    return pa.table({
        "tenant": pa.array([WEST if r[0] == "AQ-W" else EAST for r in rows], pa.string()),
        "asset_id": pa.array([r[0] for r in rows], pa.string()),
        "metric": pa.array([r[1] for r in rows], pa.string()),
        "ts": pa.array([at(r[2]) for r in rows], pa.timestamp("us")),
        "value": pa.array([r[3] for r in rows], pa.float64()),
    })


def set_rules(ws: Settings, text: str, unit: str = CITY) -> None:
    with session_scope(ws) as s:
        alarms.replace_rules(s, unit, AlarmRuleSet.from_yaml(text))


def evaluate(ws: Settings, batch: pa.Table, desk: CaseDesk | None = None) -> alarms.AlarmChanges:
    with session_scope(ws) as s:
        return alarms.evaluate_batch(s, batch, at(10**6), desk=desk)


def sweep(ws: Settings, seconds: float) -> alarms.AlarmChanges:
    with session_scope(ws) as s:
        return alarms.sweep_absence(s, at(seconds))


def all_alarms(ws: Settings) -> list[Alarm]:
    with session_scope(ws) as s:
        return list(s.scalars(select(Alarm).order_by(Alarm.raised_at, Alarm.id)))


@pytest.fixture
def sensors(city: Settings) -> Settings:
    """Sensors reporting every 600 s in 东区 (AQ-1, AQ-2), 港口街道 (WL-1) and 西区 (AQ-W); a meter in 东区."""
    with session_scope(city) as s:
        for asset_id, unit in (("AQ-1", EAST), ("AQ-2", EAST), ("WL-1", PORT), ("AQ-W", WEST)):
            make(s, asset_id, "sensor", unit, expected_interval_s=600, lat=26.07, lon=119.3)
        make(s, "SM-1", "meter", EAST, expected_interval_s=600)
    return city


PM25 = "rules:\n  - {kind: sensor, metric: pm25, type: threshold, op: '>', value: 150, for_seconds: 600}\n"


def test_a_threshold_must_hold_for_seconds_to_raise_and_to_clear(sensors: Settings) -> None:
    set_rules(sensors, PM25)
    # breach at 0 and 300 s: held 300 s < 600 s, nothing yet; normal at 400 s starts over
    assert not evaluate(sensors, readings(("AQ-1", "pm25", 0, 160), ("AQ-1", "pm25", 300, 170),
                                          ("AQ-1", "pm25", 400, 90))).raised
    # breach again from 500 s: 500 → 1000 is 500 s (no), 500 → 1100 is 600 s: raised at 1100 s (next batch)
    assert not evaluate(sensors, readings(("AQ-1", "pm25", 500, 155), ("AQ-1", "pm25", 1000, 151))).raised
    changes = evaluate(sensors, readings(("AQ-1", "pm25", 1100, 180), ("AQ-1", "pm25", 1200, 190)))
    [alarm] = all_alarms(sensors)
    assert changes.raised == [alarm.id] and changes.repeated == 1
    assert (alarm.status, alarm.raised_at, alarm.count, alarm.last_value, alarm.severity) == \
        ("raised", at(1100), 2, 190.0, "major")
    assert "pm25 = 180 > 150" in alarm.message
    # back within limits at 1300 s; 1300 → 1800 is 500 s: still open; a breach at 1850 s starts over
    evaluate(sensors, readings(("AQ-1", "pm25", 1300, 100), ("AQ-1", "pm25", 1800, 120),
                               ("AQ-1", "pm25", 1850, 151)))
    assert [(a.status, a.count) for a in all_alarms(sensors)] == [("raised", 3)]
    changes = evaluate(sensors, readings(("AQ-1", "pm25", 1900, 80), ("AQ-1", "pm25", 2500, 70)))
    [alarm] = all_alarms(sensors)
    assert changes.cleared == [alarm.id]
    assert (alarm.status, alarm.cleared_at, alarm.cleared_by) == ("cleared", at(2500), "alarm-rules")


def test_a_zero_hold_raises_on_the_first_breach_and_skips_late_readings(sensors: Settings) -> None:
    set_rules(sensors, "rules:\n  - {kind: device, metric: pm25, type: threshold, op: '>=', value: 150}\n")
    assert len(evaluate(sensors, readings(("AQ-1", "pm25", 0, 150), ("AQ-2", "pm25", 0, 149))).raised) == 1
    # a reading older than the last one evaluated (a late redelivery) changes nothing
    assert not evaluate(sensors, readings(("AQ-1", "pm25", -60, 10))).cleared
    assert evaluate(sensors, readings(("AQ-1", "pm25", 60, 10))).cleared


def test_a_rate_compares_consecutive_readings_across_batches(sensors: Settings) -> None:
    set_rules(sensors, "rules:\n  - {kind: sensor, metric: level_m, type: rate, value: 0.05, severity: critical}\n")
    # 2.00 → 2.02 in 60 s: 0.02/min; the first reading has nothing to compare with
    assert not evaluate(sensors, readings(("WL-1", "level_m", 0, 2.0), ("WL-1", "level_m", 60, 2.02))).raised
    # 2.02 (last batch) → 2.20 in 60 s: 0.18/min > 0.05
    changes = evaluate(sensors, readings(("WL-1", "level_m", 120, 2.20)))
    [alarm] = all_alarms(sensors)
    assert changes.raised == [alarm.id] and alarm.severity == "critical" and alarm.last_value == pytest.approx(2.2)
    assert "0.18/min" in alarm.message
    # 2.20 → 2.12 in 120 s: 0.04/min: back to normal
    assert evaluate(sensors, readings(("WL-1", "level_m", 240, 2.12))).cleared == [alarm.id]


def test_absence_is_raised_after_the_silence_and_cleared_when_readings_come_back(sensors: Settings) -> None:
    set_rules(sensors, "rules:\n  - {kind: sensor, type: absence, intervals: 3, severity: critical}\n"
                       "  - {kind: meter, type: absence, seconds: 7200}\n")
    evaluate(sensors, readings(*((a, "pm25", 0, 30.0) for a in ("AQ-1", "AQ-2", "WL-1", "AQ-W", "SM-1"))))
    assert not sweep(sensors, 1800).raised  # 3 × 600 s: silent 1800 s is not more than that
    evaluate(sensors, readings(("AQ-2", "pm25", 1500, 30.0)))  # AQ-2 spoke at 1500 s
    changes = sweep(sensors, 1801)
    assert changes.offline == 3 and len(changes.raised) == 3  # AQ-1, WL-1, AQ-W; the meter waits 7200 s
    with session_scope(sensors) as s:
        status = dict(s.execute(select(Asset.id, Asset.status)).tuples().all())
    assert status == {"AQ-1": "offline", "AQ-2": "online", "WL-1": "offline", "AQ-W": "offline", "SM-1": "online"}
    again = sweep(sensors, 2400)
    assert (again.raised, again.repeated) == ([], 3)
    evaluate(sensors, readings(("AQ-1", "pm25", 2500, 31.0)))
    back = sweep(sensors, 2600)
    # the reading marked AQ-1 online already; AQ-2 (silent 1100 s) is fine
    assert len(back.cleared) == 1 and back.online == 0 and back.raised == []
    by_asset = {a.asset_id: a for a in all_alarms(sensors)}
    assert (by_asset["AQ-1"].status, by_asset["AQ-1"].count, by_asset["AQ-1"].cleared_at) == \
        ("cleared", 2, at(2600))
    assert by_asset["WL-1"].status == "raised" and set(by_asset) == {"AQ-1", "WL-1", "AQ-W"}
    late = sweep(sensors, 7201)  # the meter (7201 s > 7200 s), AQ-2 (5701 s) and AQ-1 again (4701 s > 1800 s)
    assert (len(late.raised), late.repeated) == (3, 2)


def test_a_never_heard_asset_is_silent_since_it_was_registered(sensors: Settings) -> None:
    set_rules(sensors, "rules:\n  - {kind: meter, type: absence, seconds: 60}\n")
    with session_scope(sensors) as s:
        created = s.get(Asset, "SM-1").created_at  # type: ignore[union-attr]
        changes = alarms.sweep_absence(s, created + timedelta(seconds=61))
    assert len(changes.raised) == 1


def test_one_open_alarm_per_asset_and_rule(sensors: Settings) -> None:
    set_rules(sensors, "rules:\n  - {kind: sensor, metric: pm25, type: threshold, op: '>', value: 150}\n")
    evaluate(sensors, readings(*(("AQ-1", "pm25", t, 200.0) for t in (0, 60, 120))))
    evaluate(sensors, readings(("AQ-1", "pm25", 180, 210.0)))
    [alarm] = all_alarms(sensors)
    assert alarm.count == 4
    with pytest.raises(IntegrityError), session_scope(sensors) as s:  # the database refuses a second one too
        s.add(Alarm(id="alm-dup", asset_id="AQ-1", tenant_id=EAST, rule_id=alarm.rule_id, type="threshold",
                    status="acknowledged", severity="major", raised_at=T0, last_at=T0, message="dup", count=1))
    with session_scope(sensors) as s:
        alarms.clear(s, alarm.id, actor="op")
    evaluate(sensors, readings(("AQ-1", "pm25", 240, 220.0)))  # the condition lasts: a new alarm
    assert [(a.status, a.count) for a in all_alarms(sensors)] == [("cleared", 4), ("raised", 1)]


def test_the_lifecycle_and_its_illegal_steps(sensors: Settings) -> None:
    set_rules(sensors, "rules:\n  - {kind: sensor, metric: pm25, type: threshold, op: '>', value: 150}\n")
    evaluate(sensors, readings(("AQ-1", "pm25", 0, 200.0)))
    [alarm] = all_alarms(sensors)
    assert alarms.allowed_actions("raised") == ["acknowledge", "clear"]
    with session_scope(sensors) as s:
        acked = alarms.acknowledge(s, alarm.id, actor="op-east", note="已派人")
        assert (acked.status, acked.acknowledged_by, acked.ack_note) == ("acknowledged", "op-east", "已派人")
    with pytest.raises(Conflict) as err, session_scope(sensors) as s:
        alarms.acknowledge(s, alarm.id, actor="op-east")
    assert err.value.fix == "from acknowledged the allowed actions are: clear"
    # a repeat keeps the acknowledged alarm open; the end of the condition clears it
    evaluate(sensors, readings(("AQ-1", "pm25", 60, 201.0)))
    assert evaluate(sensors, readings(("AQ-1", "pm25", 120, 100.0))).cleared == [alarm.id]
    for act in (alarms.acknowledge, alarms.clear):
        with pytest.raises(Conflict, match="is cleared") as err, session_scope(sensors) as s:
            act(s, alarm.id, actor="op-east")
        assert err.value.fix is not None and "none" in err.value.fix
    with session_scope(sensors) as s:
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.target_id == alarm.id)).all()
        assert actions == ["alarm.acknowledge"]
        assert s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("alarm.%")).order_by(AuditEntry.seq)).all() == \
            ["alarm.evaluate", "alarm.acknowledge", "alarm.evaluate"]


def test_an_alarm_opens_a_case_and_resolves_it_when_it_clears(sensors: Settings) -> None:
    set_rules(sensors, "rules:\n  - {kind: sensor, metric: level_m, type: threshold, op: '>', value: 5, "
                       "severity: critical, open_case: true}\n")
    desk = CaseDesk.for_settings(sensors)
    changes = evaluate(sensors, readings(("WL-1", "level_m", 0, 5.4), ("WL-1", "level_m", 60, 5.6)), desk)
    [alarm] = all_alarms(sensors)
    assert changes.cases_opened == [alarm.case_id]
    with session_scope(sensors) as s:
        case = s.get(Case, alarm.case_id)
        assert case is not None
        assert (case.tenant_id, case.external_id, case.category, case.priority, case.channel, case.created_at) == \
            (PORT, alarm.id, "E06", "urgent", "iot-alarm", at(0))
        assert ("alarm", "alarm") in [(e.action, e.actor) for e in history(s, case.id)]
    changes = evaluate(sensors, readings(("WL-1", "level_m", 120, 4.0)), desk)
    assert changes.cleared == [alarm.id] and changes.cases_resolved == [alarm.case_id]
    with session_scope(sensors) as s:
        case = s.get(Case, alarm.case_id)
        steps = [(e.action, e.actor, e.at) for e in history(s, alarm.case_id)]  # type: ignore[arg-type]
        # nobody holds the case (no dispatch rule in this city): cancelled as the alarm ended
        assert case is not None and case.status == "cancelled" and steps[-1] == ("cancel", "alarm", at(120))
    assert len(all_alarms(sensors)) == 1


def test_a_manual_clear_resolves_the_case_too(sensors: Settings) -> None:
    set_rules(sensors, "rules:\n  - {kind: '*', metric: voltage_v, type: threshold, op: '<', value: 198, "
                       "open_case: true}\n")
    desk = CaseDesk.for_settings(sensors)
    evaluate(sensors, readings(("SM-1", "voltage_v", 0, 180.0)), desk)
    [alarm] = all_alarms(sensors)
    with session_scope(sensors) as s:
        alarms.clear(s, alarm.id, actor="op-east", reason="线路已修复", desk=desk)
    with session_scope(sensors) as s:
        case = s.get(Case, alarm.case_id)
        assert case is not None and case.status == "cancelled"
        assert s.get(Alarm, alarm.id).clear_reason == "线路已修复"  # type: ignore[union-attr]


@pytest.mark.parametrize(("text", "detail"), [
    ("rules:\n  - {type: threshold, metric: pm25, value: 1}\n", "rules[0].op: a threshold rule needs op"),
    ("rules:\n  - {type: absence, intervals: 3}\n  - {type: rate, metric: x}\n", "rules[1].value: a rate rule"),
    ("rules:\n  - {type: absence}\n", "rules[0].intervals: an absence rule needs intervals or seconds"),
    ("rules:\n  - {kind: lamp, type: absence, seconds: 60}\n", "rules[0].kind: 'lamp' is neither"),
    ("rules:\n  - {type: threshold, metric: pm25, op: '=>', value: 1}\n", "rules[0].op: Input should be"),
    ("rules:\n  - {type: absence, seconds: 60, severity: fatal}\n", "rules[0].severity: Input should be"),
    ("rules:\n  - {type: absence, seconds: 60, colour: red}\n", "rules[0].colour: Extra inputs"),
])
def test_rule_yaml_errors_name_the_index_and_field(text: str, detail: str) -> None:
    with pytest.raises(InvalidInput) as err:
        AlarmRuleSet.from_yaml(text)
    assert any(d.startswith(detail) for d in err.value.details), err.value.details


def test_bad_yaml_says_where() -> None:
    with pytest.raises(InvalidInput, match="not valid YAML at line 4, column 1"):
        AlarmRuleSet.from_yaml("rules:\n  - {type: threshold\n  - x\n")


def test_the_shipped_rules_load_and_apply_where_a_unit_has_none(sensors: Settings) -> None:
    assert len(alarms.load_rules().rules) >= 5
    set_rules(sensors, "rules:\n  - {kind: sensor, type: absence, seconds: 60}\n", unit=WEST)
    evaluate(sensors, readings(("AQ-1", "pm25", 0, 30.0), ("AQ-W", "pm25", 0, 30.0)))
    # 东区 falls back to the defaults (3 intervals = 1800 s); 西区 has its own 60 s rule
    assert [a.asset_id for a in (sweep(sensors, 61), all_alarms(sensors))[1]] == ["AQ-W"]
    with session_scope(sensors) as s:
        assert alarms.rules_of(s, None) and alarms.RuleBook(s).applicable(EAST, "sensor")[0].tenant_id is None


def test_replacing_rules_clears_the_alarms_of_the_old_ones(sensors: Settings) -> None:
    set_rules(sensors, PM25.replace("600", "0"))
    evaluate(sensors, readings(("AQ-1", "pm25", 0, 200.0)))
    set_rules(sensors, "rules: []\n")
    [alarm] = all_alarms(sensors)
    assert (alarm.status, alarm.rule_id, alarm.clear_reason) == ("cleared", None, "告警规则已更换 rule replaced")


def test_readings_mark_assets_online_and_unknown_assets_are_counted(sensors: Settings) -> None:
    with session_scope(sensors) as s:
        make(s, "OLD-1", "sensor", EAST, expected_interval_s=600)
        s.get(Asset, "OLD-1").status = "retired"  # type: ignore[union-attr]
    changes = evaluate(sensors, readings(("AQ-1", "pm25", 0, 1.0), ("AQ-1", "pm25", 60, 2.0),
                                         ("GHOST", "pm25", 0, 3.0), ("OLD-1", "pm25", 30, 4.0)))
    assert (changes.readings, changes.unknown, changes.online) == (4, 1, 1)
    with session_scope(sensors) as s:
        seen = {a.id: (a.status, a.last_seen_at) for a in s.scalars(select(Asset))}
    assert seen["AQ-1"] == ("online", at(60)) and seen["OLD-1"] == ("retired", at(30))
    assert seen["AQ-2"] == ("unknown", None)


def test_a_district_sees_only_its_alarms(sensors: Settings) -> None:
    set_rules(sensors, PM25.replace("600", "0"))
    evaluate(sensors, readings(("AQ-1", "pm25", 0, 200.0), ("AQ-W", "pm25", 0, 200.0)))
    east = next(a for a in all_alarms(sensors) if a.asset_id == "AQ-1")
    with scoped(sensors, WEST) as s:
        assert [a.asset_id for a in alarms.list_alarms(s)[0]] == ["AQ-W"]
        with pytest.raises(NotFound):
            alarms.get_alarm(s, east.id)
        with pytest.raises(NotFound):
            alarms.acknowledge(s, east.id)
        assert [r.tenant_id for r in s.scalars(select(alarms.AlarmRule))] == [None] * len(alarms.rules_of(s, None))
    with scoped(sensors, EAST, PORT) as s:
        assert alarms.open_by_severity(s, [EAST, PORT, WEST]) == {"major": 1}


def test_the_listener_commits_and_never_raises(sensors: Settings, caplog: pytest.LogCaptureFixture) -> None:
    set_rules(sensors, PM25.replace("600", "0"))
    listen = alarms.alarm_listener(sensors)
    listen(readings(("AQ-1", "pm25", 0, 200.0)))
    assert [a.asset_id for a in all_alarms(sensors)] == ["AQ-1"]
    with caplog.at_level(logging.ERROR, logger="chengyun.assets.alarms"):
        listen(pa.table({"asset_id": ["AQ-1"]}))  # no ts, no value: logged, not raised
    assert "alarm evaluation failed" in caplog.text


def test_the_cli_replaces_rules_sweeps_and_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", "")  # the workspace's own SQLite file
    ws = Settings(workspace=tmp_path / "ws")
    migrate(ws)
    with session_scope(ws) as s:
        add_unit(session=s, unit_id=CITY, name="临江市")
        make(s, "GW-1", "gateway", CITY, expected_interval_s=60)
        s.get(Asset, "GW-1").last_seen_at = T0  # type: ignore[union-attr]  # silent ever since
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {kind: device, type: absence, seconds: 1, severity: critical}\n", encoding="utf-8")
    run = lambda *a: CliRunner().invoke(app, [*a, "--workspace", str(ws.workspace)])  # noqa: E731
    shown = run("alarms", "rules", "--tenant", CITY, "--file", str(rules))
    assert shown.exit_code == 0 and AlarmRuleSet.from_yaml(shown.stdout).rules[0].seconds == 1
    rules.write_text("rules:\n  - {type: absence, seconds: 1}\n  - {type: rate}\n", encoding="utf-8")
    bad = run("alarms", "rules", "--tenant", CITY, "--file", str(rules))
    assert isinstance(bad.exception, InvalidInput) and "rules[1].metric" in str(bad.exception)
    assert AlarmRuleSet.from_yaml(run("alarms", "rules", "--tenant", CITY).stdout).rules[0].seconds == 1  # kept
    swept = run("alarms", "sweep", "--json")
    assert swept.exit_code == 0 and len(json.loads(swept.stdout)["raised"]) == 1
    listed = json.loads(run("alarms", "list", "--status", "open", "--json").stdout)
    assert [(i["asset_id"], i["severity"], i["type"]) for i in listed["items"]] == [("GW-1", "critical", "absence")]
    assert json.loads(run("alarms", "list", "--status", "cleared", "--json").stdout)["total"] == 0
