"""``chengyun datasets|quality|sharing …`` as an operator types them (``--json``), on SQLite and PostgreSQL, checked
against numbers worked out by hand from the files of ``api_world``."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import Result
from sqlalchemy import select
from typer.testing import CliRunner

from chengyun.cases.models import Case
from chengyun.catalog import sharing
from chengyun.catalog.models import Dataset, SharingRequest
from chengyun.cli.main import app
from chengyun.core.db import session_scope
from chengyun.core.errors import ChengyunError, InvalidInput
from chengyun.core.settings import Settings

from .api_world import (
    CITY,
    EAST,
    ENTERPRISE_HEADER,
    ENTERPRISES,
    INDUSTRIES,
    LICENCE_HEADER,
    LICENCES,
    WEST,
    add_city,
    credit_code,
    csv_bytes,
)

# By hand (see api_world): code-valid fails rows 4 and 8 (2 of 10 → 80, weight 2), name-present fails row 6 (1 of 10
# → 90), code-unique and industry fail nothing (100 each): (80·2 + 90 + 100 + 100) / 5 = 90.
RULES = {"rules": [
    {"id": "code-valid", "kind": "cn-credit-code", "column": "统一社会信用代码", "weight": 2},
    {"id": "name-present", "kind": "not-null", "column": "企业名称"},
    {"id": "code-unique", "kind": "unique", "column": "统一社会信用代码"},
    {"id": "industry", "kind": "in-set", "column": "行业", "values": INDUSTRIES},
]}
PASSING = {"rules": [{"id": "industry", "kind": "in-set", "column": "行业", "values": INDUSTRIES},
                     {"id": "capital-range", "kind": "range", "column": "注册资本", "min": 50, "max": 2000}]}


@pytest.fixture
def cli_city(ws: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The city's units and departments; the command line reaches the same state DB as ``ws``."""
    monkeypatch.setenv("CHENGYUN_DATABASE_URL", ws.db_url)
    yield add_city(ws)


def run(settings: Settings, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(app, [*args, "--workspace", str(settings.workspace)])
    assert result.exit_code == code, (result.output, result.exception)
    return result


def out(settings: Settings, *args: str, code: int = 0) -> Any:
    """The ``--json`` answer of a command."""
    return json.loads(run(settings, *args, "--json", code=code).stdout)


def failure(settings: Settings, *args: str) -> Exception:
    """The error a command stopped with (exit 1 and a chengyun error, not a crash of the test runner)."""
    result = run(settings, *args, code=1)
    assert result.exception is not None and not isinstance(result.exception, SystemExit), result.output
    return result.exception


def write(path: Path, data: bytes | str | dict[str, Any]) -> Path:
    if isinstance(data, dict):
        data = yaml.safe_dump(data, allow_unicode=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def add_enterprises(settings: Settings, tmp: Path, name: str = "ent", tenant: str = EAST,
                    provider: str = "east-amr", rows: list[tuple[str, ...]] = ENTERPRISES) -> dict[str, Any]:
    path = write(tmp / f"{name}.csv", csv_bytes(ENTERPRISE_HEADER, rows))
    return dict(out(settings, "datasets", "add", str(path), "--name", name, "--tenant", tenant, "--provider", provider,
                    "--title", f"{name} 企业登记信息"))


def add_licences(settings: Settings, tmp: Path, name: str = "lic") -> dict[str, Any]:
    path = write(tmp / f"{name}.csv", csv_bytes(LICENCE_HEADER, LICENCES))
    return dict(out(settings, "datasets", "add", str(path), "--name", name, "--tenant", EAST, "--provider", "east-amr",
                    "--title", "东区食品经营许可证"))


# ---- datasets -----------------------------------------------------------------------------------------------------


def _ragged_file(path: Path) -> Path:
    """42 data rows: row 7 has a sixth field, row 30 lacks its fifth; the other 40 are whole."""
    good = [*ENTERPRISES, *[(credit_code(100 + i), f"临江测试企业{i}号", "100", "2020-01-01", "制造业")
                            for i in range(30)]]
    lines = [",".join(ENTERPRISE_HEADER)] + [",".join(r) for r in good]
    lines.insert(7, f"{credit_code(200)},多一列公司,10,2020-02-02,制造业,多余")  # becomes data row 7
    lines.insert(30, f"{credit_code(201)},少一列公司,10,2020-03-03")  # data row 30
    return write(path, "\n".join(lines) + "\n")


def test_add_puts_ragged_rows_aside_with_reasons(cli_city: Settings, tmp_path: Path) -> None:
    source, rejects = _ragged_file(tmp_path / "ragged.csv"), tmp_path / "put-aside" / "ragged.rejects.csv"
    got = out(cli_city, "datasets", "add", str(source), "--name", "ent-ragged", "--tenant", EAST, "--provider",
              "east-amr", "--rejects", str(rejects))
    assert (got["rows"], got["rejected"], got["rejects"]) == (40, 2, str(rejects))
    assert (got["dataset"]["name"], got["dataset"]["rows"], got["dataset"]["department_id"]) == ("ent-ragged", 40,
                                                                                                 "east-amr")
    with rejects.open(encoding="utf-8-sig", newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == ["row", "reason", "raw"]
    assert [(r[0], r[1]) for r in table[1:]] == [("7", "has 6 fields, the header has 5"),
                                                 ("30", "has 4 fields, the header has 5")]
    assert "多一列公司" in table[1][2] and "少一列公司" in table[2][2]
    # without --rejects the rows go to the workspace's imports folder
    plain = out(cli_city, "datasets", "add", str(source), "--name", "ent-ragged-2", "--tenant", EAST)
    assert plain["rejected"] == 2 and Path(plain["rejects"]).parent == cli_city.workspace / "imports"
    assert Path(plain["rejects"]).is_file()
    text = run(cli_city, "datasets", "add", str(source), "--name", "ent-ragged-3", "--tenant", EAST).stdout
    assert "40 rows" in text and "2 rows put aside" in text


def test_too_many_ragged_rows_fail_and_the_option_the_error_names_exists(cli_city: Settings, tmp_path: Path) -> None:
    lines = [",".join(ENTERPRISE_HEADER)] + [",".join(r) for r in ENTERPRISES]
    lines += [f"{credit_code(300 + i)},残缺公司{i}" for i in range(3)]  # 3 of 13 rows: 23 %, over the 5 % allowed
    source = write(tmp_path / "broken.csv", "\n".join(lines) + "\n")
    err = failure(cli_city, "datasets", "add", str(source), "--name", "ent-broken", "--tenant", EAST)
    assert "3 of 13" in str(err) and "--max-reject-share" in str(err)
    with session_scope(cli_city) as s:
        assert s.scalar(select(Dataset.id).where(Dataset.name == "ent-broken")) is None
    # the operator does what the message says
    got = out(cli_city, "datasets", "add", str(source), "--name", "ent-broken", "--tenant", EAST,
              "--max-reject-share", "0.3")
    assert (got["rows"], got["rejected"]) == (10, 3)


def test_reader_options_named_in_its_messages_are_on_datasets_add() -> None:
    import typer.main

    group: Any = typer.main.get_command(app)
    add = group.commands["datasets"].commands["add"]
    given = {opt for param in add.params for opt in param.opts}
    missing = [o for o in ("--encoding", "--delimiter", "--max-reject-share") if o not in given]
    assert not missing, f"the reader's fixes tell the operator to pass {missing}, which `datasets add` lacks"


def test_list_show_refresh_and_describe(cli_city: Settings, tmp_path: Path) -> None:
    add_enterprises(cli_city, tmp_path)
    add_licences(cli_city, tmp_path)
    add_enterprises(cli_city, tmp_path, name="west-ent", tenant=WEST, provider="west-cg", rows=ENTERPRISES[:3])
    listed = out(cli_city, "datasets", "list")
    assert [(d["tenant_id"], d["name"]) for d in listed["items"]] == [(EAST, "ent"), (EAST, "lic"),
                                                                      (WEST, "west-ent")]
    assert listed["total"] == 3 and [d["rows"] for d in listed["items"]] == [10, 5, 3]
    assert [d["name"] for d in out(cli_city, "datasets", "list", "--search", "许可证")["items"]] == ["lic"]
    assert [d["name"] for d in out(cli_city, "datasets", "list", "--tenant", WEST)["items"]] == ["west-ent"]
    assert [d["name"] for d in out(cli_city, "datasets", "list", "--provider", "east-amr")["items"]] == ["ent", "lic"]
    shown = out(cli_city, "datasets", "show", "ent")
    assert (shown["rows"], [c["name"] for c in shown["columns"]], shown["catalogued"]) == (10, ENTERPRISE_HEADER,
                                                                                          False)
    refreshed = out(cli_city, "datasets", "refresh", "ent", "--source",
                    str(write(tmp_path / "four.csv", csv_bytes(ENTERPRISE_HEADER, ENTERPRISES[:4]))))
    assert (refreshed["rows"], refreshed["rejected"]) == (4, 0)
    described = write(tmp_path / "entry.yaml", {
        "code": "LJ-EAST-ENT", "name": "东区企业登记信息", "provider": "east-amr", "summary": "东区市场主体登记",
        "format": "CSV", "sharing_type": "有条件共享", "sharing_condition": "仅限监管用途", "open_type": "不予开放",
        "update_cycle": "每周", "published": "2025/3/1", "keywords": ["营商环境"]})
    got = out(cli_city, "datasets", "describe", "ent", str(described))
    assert (got["code"], got["title"], got["sharing_type"], got["open_type"], got["update_cycle_days"]) == (
        "LJ-EAST-ENT", "东区企业登记信息", "conditional", "closed", 7.0)
    assert got["catalogued"] is True and got["published_at"] == "2025-03-01T00:00:00Z"
    assert [d["name"] for d in out(cli_city, "datasets", "list", "--search", "营商环境")["items"]] == ["ent"]
    # a name in two units needs --tenant
    add_enterprises(cli_city, tmp_path, name="lic", tenant=WEST, provider="west-cg", rows=ENTERPRISES[:1])
    assert "several units" in str(failure(cli_city, "datasets", "show", "lic"))
    assert out(cli_city, "datasets", "show", "lic", "--tenant", WEST)["rows"] == 1


def test_profile_json_by_hand(cli_city: Settings, tmp_path: Path) -> None:
    add_enterprises(cli_city, tmp_path)
    prof = out(cli_city, "datasets", "profile", "ent")
    assert prof["rows"] == 10
    cols = {c["name"]: c for c in prof["columns"]}
    assert list(cols) == ENTERPRISE_HEADER
    assert all({"name", "type", "nulls", "distinct", "min", "max"} <= set(c) for c in prof["columns"])
    pick = {n: (c["type"], c["nulls"], c["distinct"], c["min"], c["max"]) for n, c in cols.items()}
    assert pick["注册资本"] == ("integer", 0, 8, 50, 2000)
    assert pick["成立日期"] == ("date", 0, 10, "2015-06-18", "2024-02-29")
    assert pick["行业"] == ("string", 0, 5, "交通运输", "批发和零售业")
    assert pick["企业名称"][:3] == ("string", 1, 9) and pick["统一社会信用代码"][:3] == ("string", 0, 10)
    table = run(cli_city, "datasets", "profile", "ent").stdout
    assert "10 rows" in table and "注册资本" in table


def test_a_provider_named_by_its_department_name_is_exported(cli_city: Settings, tmp_path: Path) -> None:
    add_enterprises(cli_city, tmp_path)
    described = write(tmp_path / "entry.yaml", {"code": "LJ-BY-NAME", "name": "东区企业登记（按部门名称）",
                                                "provider": "东区市场监管局", "sharing_type": "有条件共享"})
    assert out(cli_city, "datasets", "describe", "ent", str(described))["department_id"] == "east-amr"
    doc = json.loads(run(cli_city, "datasets", "export-catalog").stdout)
    assert [d["dct:title"] for d in doc["dcat:dataset"]] == ["东区企业登记（按部门名称）"]


def test_an_entry_with_a_bad_value_is_an_error_with_a_fix_not_a_traceback(cli_city: Settings, tmp_path: Path) -> None:
    add_enterprises(cli_city, tmp_path)
    bad_entry = write(tmp_path / "bad.yaml", {"code": "LJ-X", "name": "错误条目", "sharing_type": "随便共享"})
    err = failure(cli_city, "datasets", "describe", "ent", str(bad_entry))
    assert isinstance(err, ChengyunError) and "sharing" in err.message and err.fix, repr(err)
    assert out(cli_city, "datasets", "show", "ent")["title"] == "ent 企业登记信息"  # unchanged


def test_a_catalogue_that_is_not_json_is_an_error_with_a_fix_not_a_traceback(cli_city: Settings,
                                                                             tmp_path: Path) -> None:
    not_json = write(tmp_path / "catalog.json", csv_bytes(ENTERPRISE_HEADER, ENTERPRISES[:2]))
    err = failure(cli_city, "datasets", "import-catalog", str(not_json), "--tenant", CITY)
    assert isinstance(err, ChengyunError) and err.fix, repr(err)


# ---- quality ------------------------------------------------------------------------------------------------------


def test_quality_run_exits_1_when_a_rule_fails_and_0_when_none_does(cli_city: Settings, tmp_path: Path) -> None:
    add_enterprises(cli_city, tmp_path)
    failing = write(tmp_path / "rules.yaml", RULES)
    rep = out(cli_city, "quality", "run", "ent", "--rules", str(failing), code=1)
    assert (rep["valid"], rep["score"], rep["rows"]) == (False, pytest.approx(90.0), 10)
    assert rep["dimensions"]["conformity"] == pytest.approx(260 / 3)
    assert (rep["dimensions"]["completeness"], rep["dimensions"]["accuracy"]) == (pytest.approx(90.0),
                                                                                pytest.approx(100.0))
    assert [(r["id"], r["kind"], r["dimension"], r["failed"], r["checked"]) for r in rep["rules"]] == [
        ("code-valid", "cn-credit-code", "conformity", 2, 10),
        ("name-present", "not-null", "completeness", 1, 10),
        ("code-unique", "unique", "accuracy", 0, 10),
        ("industry", "in-set", "conformity", 0, 10),
    ]
    assert rep["case_id"] is None  # 90 is not under the default target 80
    passing = write(tmp_path / "passing.json", json.dumps(PASSING, ensure_ascii=False))
    ok = out(cli_city, "quality", "run", "ent", "--rules", str(passing), code=0)
    assert (ok["valid"], ok["score"]) == (True, pytest.approx(100.0))
    assert [(r["failed"], r["checked"]) for r in ok["rules"]] == [(0, 10), (0, 10)]
    text = run(cli_city, "quality", "run", "ent", "--rules", str(failing), code=1)
    assert isinstance(text.exception, SystemExit) and "90.0" in text.stdout and "code-valid" in text.stdout
    assert "no quality rules" in str(failure(cli_city, "quality", "run", "ent"))  # none stored yet


def test_stored_rules_and_target_open_a_case_for_the_provider(cli_city: Settings, tmp_path: Path) -> None:
    add_enterprises(cli_city, tmp_path)
    bad = write(tmp_path / "bad.yaml", {"rules": [*RULES["rules"], {"id": "addr", "kind": "not-null",
                                                                      "column": "注册地址"}]})
    err = failure(cli_city, "quality", "rules", "ent", str(bad))
    assert isinstance(err, InvalidInput) and "addr" in err.message and "注册地址" in err.message
    stored = run(cli_city, "quality", "rules", "ent", str(write(tmp_path / "rules.yaml", RULES)), "--target", "95")
    assert "4 rules stored" in stored.stdout and "target 95" in stored.stdout
    rep = out(cli_city, "quality", "run", "ent", code=1)
    assert rep["score"] == pytest.approx(90.0) and rep["case_id"]
    with session_scope(cli_city) as s:
        case = s.get(Case, rep["case_id"])
        assert case is not None
        assert (case.channel, case.tenant_id, case.department_id, case.category) == ("data-quality", EAST,
                                                                                    "east-amr", "E09")


def test_quality_ranking_json_by_hand(cli_city: Settings, tmp_path: Path) -> None:
    # east-amr: ent scores 90 (invalid), lic 100 → mean 95; west-cg: 2 of 4 names missing → 50, under target 80
    add_enterprises(cli_city, tmp_path)
    add_licences(cli_city, tmp_path)
    add_enterprises(cli_city, tmp_path, name="stalls", tenant=WEST, provider="west-cg",
                    rows=[ENTERPRISES[0], ENTERPRISES[5], ENTERPRISES[1], ENTERPRISES[5]])
    out(cli_city, "quality", "run", "ent", "--rules", str(write(tmp_path / "r.yaml", RULES)), code=1)
    lic_rules = write(tmp_path / "lic.yaml", {"rules": [{"id": "no", "kind": "not-null", "column": "许可证号"}]})
    out(cli_city, "quality", "run", "lic", "--rules", str(lic_rules))
    names = write(tmp_path / "names.yaml", {"rules": [{"id": "name", "kind": "not-null", "column": "企业名称"}]})
    west = out(cli_city, "quality", "run", "stalls", "--rules", str(names), code=1)
    assert west["score"] == pytest.approx(50.0) and west["case_id"]
    rows = out(cli_city, "quality", "ranking")
    assert [(r["rank"], r["department_id"], r["department"], r["datasets"], r["score"], r["below_target"],
             r["invalid"]) for r in rows] == [
        (1, "east-amr", "东区市场监管局", 2, pytest.approx(95.0), 0, 1),
        (2, "west-cg", "西区城管局", 1, pytest.approx(50.0), 1, 1),
    ]
    assert [(r["rank"], r["department_id"]) for r in out(cli_city, "quality", "ranking", "--tenant", WEST)] == [
        (1, "west-cg")]
    assert "东区市场监管局" in run(cli_city, "quality", "ranking").stdout


# ---- sharing ------------------------------------------------------------------------------------------------------


def _authorised(settings: Settings, token: str) -> str:
    """What the API's token check says about ``token``: the request id, or the refusal."""
    with session_scope(settings) as s:
        try:
            return sharing.authorise(s, token).id
        except sharing.GrantRefused as exc:
            return exc.message


def test_sharing_request_approve_list_revoke_and_usage(cli_city: Settings, tmp_path: Path) -> None:
    add_enterprises(cli_city, tmp_path)
    add_licences(cli_city, tmp_path)
    open_entry = write(tmp_path / "lic-entry.yaml", {"code": "LJ-LIC", "name": "东区食品经营许可证",
                                                     "provider": "east-amr", "sharing_type": "无条件共享"})
    out(cli_city, "datasets", "describe", "lic", str(open_entry))
    auto = out(cli_city, "sharing", "request", "lic", "--department", "west-cg", "--purpose", "占道经营执法核查",
               "--fields", "许可证号, 企业名称", "--scenario", "执法核查", "--days", "30")
    assert (auto["status"], auto["decided_by"], auto["fields"]) == ("granted", "auto", ["许可证号", "企业名称"])
    assert auto["token"].startswith("cyg_") and _authorised(cli_city, auto["token"]) == auto["id"]
    pending = out(cli_city, "sharing", "request", "ent", "--department", "west-cg", "--purpose", "商户核验")
    assert (pending["status"], pending["status_zh"], pending["token"]) == ("pending", "待审批", None)
    inbox = out(cli_city, "sharing", "list", "--status", "pending")
    assert [r["id"] for r in inbox] == [pending["id"]]
    granted = out(cli_city, "sharing", "approve", pending["id"], "--note", "同意")
    assert (granted["status"], granted["decision_note"]) == ("granted", "同意")
    assert granted["decided_by"].startswith("cli:") and _authorised(cli_city, granted["token"]) == pending["id"]
    third = out(cli_city, "sharing", "request", "ent", "--department", "west-cg", "--purpose", "再次核验")
    assert "reason" in str(failure(cli_city, "sharing", "refuse", third["id"]))
    assert out(cli_city, "sharing", "refuse", third["id"], "--note", "重复申请")["status"] == "refused"
    revoked = out(cli_city, "sharing", "revoke", pending["id"], "--note", "核验结束")
    assert revoked["status"] == "revoked" and "核验结束" in revoked["decision_note"]
    assert "revoked" in _authorised(cli_city, granted["token"])
    listed = {r["id"]: r["status"] for r in out(cli_city, "sharing", "list")}
    assert listed == {auto["id"]: "granted", pending["id"]: "revoked", third["id"]: "refused"}
    with session_scope(cli_city) as s:  # one read through the grant, as the API serves it
        req = s.get(SharingRequest, auto["id"])
        assert req is not None
        page = sharing.read_rows(cli_city, s, req, limit=3)
        assert page["rows"] == [{"许可证号": no, "企业名称": name} for no, name, _, _ in LICENCES[:3]]
    used = out(cli_city, "sharing", "usage")
    lic_id = auto["dataset_id"]
    assert used == {"rows": [{"dataset_id": lic_id, "consumer_department_id": "west-cg", "scenario": "执法核查",
                              "calls": 1, "rows": 3}], "used": 1, "reused": 0}
    closed = write(tmp_path / "closed.yaml", {"code": "LJ-ENT", "name": "企业登记", "sharing_type": "不予共享"})
    out(cli_city, "datasets", "describe", "ent", str(closed))
    assert "不予共享" in str(failure(cli_city, "sharing", "request", "ent", "--department", "west-cg", "--purpose", "x"))


# ---- exchange -----------------------------------------------------------------------------------------------------


def test_import_ckan_then_export_dcat_round_trips_the_title(cli_city: Settings, shared_data: Path,
                                                            tmp_path: Path) -> None:
    ckan = shared_data / "dcat-examples" / "ckan" / "ckan_dataset.json"
    title = "Zimbabwe Regional Geochemical Survey."  # read from the file by eye
    assert out(cli_city, "datasets", "import-catalog", str(ckan), "--tenant", CITY) == {"added": 1, "updated": 0}
    assert out(cli_city, "datasets", "import-catalog", str(ckan), "--tenant", CITY) == {"added": 0, "updated": 1}
    doc = json.loads(run(cli_city, "datasets", "export-catalog", "--format", "dcat").stdout)
    assert doc["@type"] == "dcat:Catalog"
    found = [d for d in doc["dcat:dataset"] if d["dct:title"] == title]
    assert len(found) == 1 and found[0]["dct:identifier"] == "9df8df51-63db-37a8-e044-0003ba9b0d98"
    assert found[0]["dct:description"].startswith("During the period 1982-86")
    assert "geochemistry" in found[0]["dcat:keyword"]
    # and back in: the DCAT file the platform wrote updates the same dataset
    exported = write(tmp_path / "catalog.jsonld", json.dumps(doc, ensure_ascii=False))
    assert out(cli_city, "datasets", "import-catalog", str(exported), "--tenant", CITY) == {"added": 0, "updated": 1}
    listed = out(cli_city, "datasets", "list", "--search", "Geochemical")["items"]
    assert [(d["title"], d["rows"], d["tenant_id"]) for d in listed] == [(title, None, CITY)]
    packages = json.loads(run(cli_city, "datasets", "export-catalog", "--format", "ckan").stdout)
    assert [p["title"] for p in packages] == [title]
    assert run(cli_city, "datasets", "export-catalog", "--format", "rdf", code=2).exit_code == 2


def test_the_bad_tsv_loads_with_its_ragged_row_aside_or_fails_strict(cli_city: Settings, shared_data: Path) -> None:
    """qsv's ``boston311-100-bad.tsv``: data row 40 has 30 fields against the header's 29. By default it is put aside
    with its reason (99 rows kept); with ``--strict`` the load fails, naming the row."""
    bad = shared_data / "boston311-qsv" / "boston311-100-bad.tsv"
    got = out(cli_city, "datasets", "add", str(bad), "--name", "bad-tsv", "--tenant", EAST)
    assert (got["rows"], got["rejected"]) == (99, 1)
    with open(got["rejects"], encoding="utf-8-sig", newline="") as fh:
        (reject,) = list(csv.DictReader(fh))
    assert reject["row"] == "40" and "30" in reject["reason"] and "29" in reject["reason"]
    exc = failure(cli_city, "datasets", "add", str(bad), "--name", "bad-strict", "--tenant", EAST, "--strict")
    assert isinstance(exc, ChengyunError) and "40" in str(exc)
