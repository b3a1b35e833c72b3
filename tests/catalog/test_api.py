"""/api/v1/datasets, /quality, /catalog and /sharing-requests, /shared/rows: what a city operator and a department do
through HTTP, checked against numbers worked out by hand from the files of ``api_world``.

Most tests share one SQLite city per module and make datasets of their own; the end-to-end test at the bottom runs
again on PostgreSQL (``ws``).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from chengyun.cases.models import Case
from chengyun.catalog.models import DataAccess, SharingRequest
from chengyun.core.db import session_scope, utcnow
from chengyun.core.settings import Settings

from .api_world import (
    EAST,
    ENTERPRISE_HEADER,
    ENTERPRISES,
    INDUSTRIES,
    LICENCE_HEADER,
    LICENCES,
    NORTH,
    WEST,
    World,
    audit_of,
    build_city,
    csv_bytes,
    entry,
    open_world,
)

# The enterprise rules and what they find in ENTERPRISES (see api_world), by hand:
#   code-valid   cn-credit-code  conformity    checked 10, failed 2 → 80   (weight 2)
#   name-present not-null        completeness  checked 10, failed 1 → 90
#   code-unique  unique          accuracy      checked 10, 10 distinct → failed 0 → 100
#   industry     in-set          conformity    checked 10, failed 0 → 100
# overall (80·2 + 90 + 100 + 100) / 5 = 90; conformity (80·2 + 100) / 3 = 86.67; completeness 90; accuracy 100.
RULES = [
    {"id": "code-valid", "kind": "cn-credit-code", "column": "统一社会信用代码", "weight": 2},
    {"id": "name-present", "kind": "not-null", "column": "企业名称"},
    {"id": "code-unique", "kind": "unique", "column": "统一社会信用代码"},
    {"id": "industry", "kind": "in-set", "column": "行业", "values": INDUSTRIES},
]
FOUND = {"code-valid": (2, 10), "name-present": (1, 10), "code-unique": (0, 10), "industry": (0, 10)}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, cheap_hashes: None) -> Iterator[World]:
    settings = build_city(Settings(workspace=tmp_path_factory.mktemp("catalog-api") / "ws"))
    with open_world(settings) as w:
        yield w


def enterprises(w: World, name: str, *, tenant: str = EAST, provider: str | None = "east-amr",
                sharing: str = "有条件共享", encoding: str = "utf-8") -> str:
    """The enterprise registry described and loaded by the east operator (or the admin elsewhere); its id."""
    who = "op-east" if tenant == EAST else "admin"
    return w.loaded(who, name, tenant, entry(f"LJ-{name}", f"{name} 企业登记信息", provider, sharing),
                    csv_bytes(ENTERPRISE_HEADER, ENTERPRISES, encoding))


def licences(w: World, name: str) -> str:
    """The licence register, shared unconditionally (无条件共享); its id."""
    return w.loaded("op-east", name, EAST, entry(f"LJ-{name}", f"{name} 许可证信息", "east-amr", "无条件共享"),
                    csv_bytes(LICENCE_HEADER, LICENCES))


def error(r: Any) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}, body
    return dict(body["error"])


# ---- datasets: describe, find, scope ----------------------------------------------------------------------------


def test_create_with_chinese_terms_and_read_back(world: World) -> None:
    described = entry("LJ-EAST-001", "东区企业登记信息", "east-amr", "有条件共享", open_type="依申请开放",
                      update_cycle="每季度", published="2024年5月1日", sharing_condition="仅用于市场监管",
                      keywords=["营商环境", "市场主体"])
    r = world.post("op-east", "/api/v1/datasets", {"name": "ent-created", "tenant": EAST, "entry": described})
    assert r.status_code == 201, r.text
    made = r.json()
    assert r.headers["location"] == f"/api/v1/datasets/{made['id']}"
    assert (made["tenant_id"], made["name"], made["code"], made["title"], made["department_id"]) == (
        EAST, "ent-created", "LJ-EAST-001", "东区企业登记信息", "east-amr")
    assert (made["sharing_type"], made["sharing_type_zh"], made["sharing_condition"]) == (
        "conditional", "有条件共享", "仅用于市场监管")
    assert (made["open_type"], made["update_cycle"], made["update_cycle_days"]) == ("conditional", "quarterly", 90.0)
    assert made["published_at"] == "2024-05-01T00:00:00Z"
    assert made["catalogued"] is True  # code, title, provider, summary, format and cycle are all given
    assert (made["rows"], made["columns"], made["last_score"], made["rules"]) == (None, [], None, 0)
    assert made["entry"]["keywords"] == ["营商环境", "市场主体"]
    got = world.get("dept-east", f"/api/v1/datasets/{made['id']}")
    assert got.status_code == 200 and got.json() == made
    assert audit_of(world.settings, made["id"]) == [("dataset.create", "op-east", EAST),
                                                     ("dataset.catalogue", "op-east", EAST)]


def test_an_entry_missing_required_fields_is_not_catalogued(world: World) -> None:
    made = world.create("op-east", "ent-bare", EAST, {"code": "LJ-BARE", "name": "只有名称的资源",
                                                      "sharing_type": "不予共享"})
    assert (made["catalogued"], made["sharing_type"], made["sharing_type_zh"]) == (False, "none", "不予共享")


@pytest.mark.parametrize(("field", "value"), [("sharing_type", "随便共享"), ("update_cycle", "每十年两次"),
                                              ("published", "去年春天")], ids=["sharing_type", "update_cycle", "published"])
def test_a_bad_entry_value_is_a_422_naming_the_field(world: World, field: str, value: str) -> None:
    described = entry(f"LJ-BAD-{field}", "错误条目", "east-amr") | {field: value}
    r = world.post("op-east", "/api/v1/datasets", {"name": f"bad-{field.replace('_', '-')}", "tenant": EAST,
                                                   "entry": described})
    assert r.status_code == 422, r.text
    err = error(r)
    assert err["code"] == "invalid-input" and field in err["message"] + " ".join(err["details"])
    ds_id = world.create("op-east", f"fix-{field.replace('_', '-')}", EAST,
                         entry(f"LJ-FIX-{field}", "待修改条目", "east-amr"))["id"]
    r = world.put("op-east", f"/api/v1/datasets/{ds_id}/entry", described | {"code": f"LJ-FIX-{field}"})
    assert r.status_code == 422, r.text
    assert world.get("op-east", f"/api/v1/datasets/{ds_id}").json()["title"] == "待修改条目"  # unchanged


def test_names_are_unique_per_unit_and_units_must_exist(world: World) -> None:
    world.create("op-east", "ent-twice", EAST, entry("LJ-TWICE-1", "重名一", "east-amr"))
    again = world.post("op-east", "/api/v1/datasets", {"name": "ent-twice", "tenant": EAST,
                                                       "entry": entry("LJ-TWICE-2", "重名二", "east-amr")})
    assert again.status_code == 409 and "ent-twice" in error(again)["message"]
    world.create("admin", "ent-twice", WEST, entry("LJ-TWICE-3", "西区同名", "west-cg"))  # another unit: fine
    nowhere = world.post("admin", "/api/v1/datasets", {"name": "x", "tenant": "lj-south", "entry": entry("LJ-S", "x", None)})
    assert nowhere.status_code == 404
    spaced = world.post("op-east", "/api/v1/datasets", {"name": "企业 登记", "tenant": EAST,
                                                        "entry": entry("LJ-SP", "x", None)})
    assert spaced.status_code == 422 and "name" in error(spaced)["message"]


def test_entry_replaced_and_provider_checked(world: World) -> None:
    ds_id = world.create("op-east", "ent-entry", EAST, entry("LJ-ENTRY", "东区税务登记", "east-amr"))["id"]
    r = world.put("op-east", f"/api/v1/datasets/{ds_id}/entry",
                  entry("LJ-ENTRY", "东区税务登记信息", "east-tax", "无条件共享", update_cycle="每日"))
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["title"], got["department_id"], got["sharing_type"], got["update_cycle_days"]) == (
        "东区税务登记信息", "east-tax", "unconditional", 1.0)
    world.create("admin", "ent-entry-west", WEST, entry("LJ-ENTRY-W", "西区登记", "west-cg"))
    taken = world.put("op-east", f"/api/v1/datasets/{ds_id}/entry", entry("LJ-ENTRY-W", "重复代码", "east-tax"))
    assert taken.status_code == 409 and error(taken)["code"] == "conflict"  # codes are unique across units
    assert "西区登记" not in taken.text
    # a provider that is none of the city's departments (an outside publisher) is kept by name in the entry
    outside = world.put("op-east", f"/api/v1/datasets/{ds_id}/entry", entry("LJ-ENTRY", "外部发布", "省统计局"))
    assert outside.status_code == 200, outside.text
    assert (outside.json()["department_id"], outside.json()["entry"]["provider_name"]) == (None, "省统计局")


def test_list_search_and_filters(world: World) -> None:
    a = world.create("op-east", "search-a", EAST, entry("LJ-S-A", "东区食品经营许可", "east-amr", "无条件共享"))
    b = world.create("op-east", "search-b", EAST, entry("LJ-S-B", "东区欠税企业名单", "east-tax", "不予共享",
                                                        keywords=["信用监管"]))
    c = world.create("admin", "search-c", WEST, entry("LJ-S-C", "西区占道经营点位", "west-cg"))

    def names(who: str, **params: Any) -> list[str]:
        page = world.get(who, "/api/v1/datasets", limit=500, **params).json()
        assert page["total"] == len(page["items"])
        return [d["name"] for d in page["items"] if d["name"].startswith("search-")]

    assert names("admin", q="许可") == ["search-a"]  # a Chinese word of the title
    assert names("admin", q="经营") == ["search-a", "search-c"]
    assert names("admin", q="信用监管") == ["search-b"]  # a keyword of the entry only
    assert names("admin", q="LJ-S-C") == ["search-c"]  # the resource code
    assert names("admin", provider="east-tax") == ["search-b"]
    assert names("admin", sharing_type="unconditional", q="search") == ["search-a"]
    assert names("admin", tenant=WEST) == ["search-c"]
    assert names("op-west") == ["search-c"]  # the west operator's catalogue holds the west only
    assert names("op-east", q="经营") == ["search-a"]
    page = world.get("admin", "/api/v1/datasets", q="search-", limit=2, offset=1).json()
    assert (page["total"], [d["id"] for d in page["items"]]) == (3, [b["id"], c["id"]])  # by unit, then name
    assert a["id"] not in world.get("op-west", "/api/v1/datasets", limit=500).text


def test_another_districts_dataset_is_not_found(world: World) -> None:
    ds_id = enterprises(world, "ent-scope")
    title = "ent-scope 企业登记信息"
    for method, url, body in (("GET", f"/api/v1/datasets/{ds_id}", None),
                              ("GET", f"/api/v1/datasets/{ds_id}/profile", None),
                              ("GET", f"/api/v1/datasets/{ds_id}/rules", None),
                              ("GET", f"/api/v1/datasets/{ds_id}/quality-runs", None),
                              ("PUT", f"/api/v1/datasets/{ds_id}/rules", {"rules": RULES}),
                              ("PUT", f"/api/v1/datasets/{ds_id}/entry", entry("LJ-X", "x", None)),
                              ("POST", f"/api/v1/datasets/{ds_id}/quality-runs", {"rules": RULES})):
        r = world.client.request(method, url, json=body, headers=world.as_("op-west"))
        assert r.status_code == 404, (method, url, r.text)
        assert error(r)["code"] == "not-found" and title not in r.text
    r = world.upload("op-west", ds_id, b"a,b\n1,2\n")
    assert r.status_code == 404
    assert world.get("op-west", "/api/v1/datasets", tenant=EAST).status_code == 404  # not a unit of theirs
    assert world.get("op-west", "/api/v1/quality/ranking", tenant=EAST).status_code == 404
    assert title not in world.get("op-west", "/api/v1/catalog/dcat").text
    # nothing changed: still 10 rows, no rules, no run
    got = world.get("op-east", f"/api/v1/datasets/{ds_id}").json()
    assert (got["rows"], got["rules"], got["last_score"], got["title"]) == (10, 0, None, title)


def test_who_may_describe_where(world: World) -> None:
    body = {"name": "perm-x", "tenant": EAST, "entry": entry("LJ-PERM", "权限测试", None)}
    r = world.post("op-west", "/api/v1/datasets", body)
    assert r.status_code == 403 and error(r)["code"] == "forbidden"
    assert world.post("auditor", "/api/v1/datasets", body).status_code == 403  # reads, may not write
    assert world.get("citizen", "/api/v1/datasets").status_code == 403
    assert world.client.get("/api/v1/datasets").status_code == 401
    assert world.get("auditor", "/api/v1/datasets").status_code == 200
    assert world.post("dept-east", "/api/v1/datasets", body).status_code == 201  # a provider department may


# ---- data, profile ------------------------------------------------------------------------------------------------


def _columns(profile: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in profile["columns"]}


def test_upload_and_profile_by_hand(world: World) -> None:
    ds_id = world.create("op-east", "ent-profile", EAST, entry("LJ-PROFILE", "企业画像", "east-amr"))["id"]
    r = world.upload("op-east", ds_id, csv_bytes(ENTERPRISE_HEADER, ENTERPRISES))
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["rows"] == 10 and [c["name"] for c in got["columns"]] == ENTERPRISE_HEADER
    assert got["last_updated_at"] is not None and got["format"] == "CSV"
    prof = world.get("auditor", f"/api/v1/datasets/{ds_id}/profile").json()
    assert prof["rows"] == 10
    cols = _columns(prof)
    assert list(cols) == ENTERPRISE_HEADER
    pick = {n: (c["type"], c["nulls"], c["distinct"], c["min"], c["max"]) for n, c in cols.items()}
    assert pick["注册资本"] == ("integer", 0, 8, 50, 2000)
    assert pick["成立日期"] == ("date", 0, 10, "2015-06-18", "2024-02-29")
    assert pick["行业"] == ("string", 0, 5, "交通运输", "批发和零售业")
    assert pick["企业名称"][:3] == ("string", 1, 9)
    assert pick["统一社会信用代码"][:3] == ("string", 0, 10)
    assert cols["注册资本"]["sum"] == 8100
    assert ("dataset.refresh", "op-east", EAST) in audit_of(world.settings, ds_id)
    assert list((world.settings.workspace / "uploads").iterdir()) == []  # the platform keeps its snapshot only


def test_a_gbk_file_is_read_as_chinese(world: World) -> None:
    ds_id = world.create("op-east", "ent-gbk", EAST, entry("LJ-GBK", "企业登记（GBK）", "east-amr"))["id"]
    data = csv_bytes(ENTERPRISE_HEADER, ENTERPRISES, "gbk")
    assert data[:8] != ENTERPRISE_HEADER[0].encode("utf-8")[:8]  # really not UTF-8
    r = world.upload("op-east", ds_id, data)
    assert r.status_code == 200, r.text
    assert [c["name"] for c in r.json()["columns"]] == ENTERPRISE_HEADER
    cols = _columns(world.get("op-east", f"/api/v1/datasets/{ds_id}/profile").json())
    assert (cols["行业"]["min"], cols["行业"]["max"]) == ("交通运输", "批发和零售业")
    assert (cols["企业名称"]["nulls"], cols["企业名称"]["distinct"]) == (1, 9)


def test_a_second_upload_replaces_the_data(world: World) -> None:
    ds_id = enterprises(world, "ent-reload")
    r = world.upload("op-east", ds_id, csv_bytes(ENTERPRISE_HEADER, ENTERPRISES[:4]))
    assert r.status_code == 200 and r.json()["rows"] == 4
    prof = world.get("op-east", f"/api/v1/datasets/{ds_id}/profile").json()
    assert prof["rows"] == 4 and _columns(prof)["注册资本"]["max"] == 1200  # 500 1200 300 800


def _upload_as(fmt: str) -> bytes:
    """The licence register as a file of ``fmt``."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    records = [dict(zip(LICENCE_HEADER, row, strict=True)) for row in LICENCES]
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    if fmt == "tsv":
        return "\n".join("\t".join(row) for row in [tuple(LICENCE_HEADER), *LICENCES]).encode() + b"\n"
    buf = io.BytesIO()
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(records), buf)
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        for row in [tuple(LICENCE_HEADER), *LICENCES]:
            sheet.append(list(row))
        book.save(buf)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["jsonl", "tsv", "parquet", "xlsx"])
def test_other_formats_upload(world: World, fmt: str) -> None:
    ds_id = world.create("op-east", f"lic-{fmt}", EAST, entry(f"LJ-LIC-{fmt}", "许可证", "east-amr"))["id"]
    r = world.upload("op-east", ds_id, _upload_as(fmt), fmt=fmt)
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == 5 and [c["name"] for c in r.json()["columns"]] == LICENCE_HEADER
    cols = _columns(world.get("op-east", f"/api/v1/datasets/{ds_id}/profile").json())
    assert (cols["许可事项"]["distinct"], cols["企业名称"]["min"]) == (3, "东区五金店")  # 东 U+4E1C is the least


def test_an_empty_or_unreadable_upload_is_refused(world: World) -> None:
    ds_id = world.create("op-east", "ent-empty", EAST, entry("LJ-EMPTY", "空文件", "east-amr"))["id"]
    r = world.upload("op-east", ds_id, b"")
    assert r.status_code == 422 and "body" in error(r)["message"] and error(r)["fix"]
    assert world.upload("op-east", ds_id, b"a,b\n1,2\n", fmt="docx").status_code == 422
    assert world.get("op-east", f"/api/v1/datasets/{ds_id}").json()["rows"] is None
    assert world.get("op-east", f"/api/v1/datasets/{ds_id}/profile").json() == {"rows": 0, "columns": []}


# ---- rules and quality runs ---------------------------------------------------------------------------------------


def test_rules_naming_an_unknown_column_are_refused(world: World) -> None:
    ds_id = enterprises(world, "ent-rules")
    bad = [*RULES, {"id": "address-present", "kind": "not-null", "column": "注册地址"}]
    r = world.put("op-east", f"/api/v1/datasets/{ds_id}/rules", {"rules": bad})
    assert r.status_code == 422, r.text
    err = error(r)
    assert err["code"] == "invalid-input" and "address-present" in err["message"] and "注册地址" in err["message"]
    assert "统一社会信用代码" in err["fix"]  # the fix lists the columns there are
    assert world.get("op-east", f"/api/v1/datasets/{ds_id}/rules").json() == {"rules": [], "target": 80.0}
    unknown = world.put("op-east", f"/api/v1/datasets/{ds_id}/rules", {"rules": [{"id": "x", "kind": "magic",
                                                                                  "column": "行业"}]})
    assert unknown.status_code == 422 and "kind" in error(unknown)["message"]
    r = world.put("op-east", f"/api/v1/datasets/{ds_id}/rules", {"rules": RULES, "target": 95})
    assert r.status_code == 200, r.text
    stored = r.json()
    assert stored["target"] == 95.0 and [x["id"] for x in stored["rules"]] == [x["id"] for x in RULES]
    assert stored["rules"][0]["dimension"] == "conformity" and stored["rules"][0]["weight"] == 2
    assert world.get("op-east", f"/api/v1/datasets/{ds_id}").json()["rules"] == 4
    assert world.put("op-east", f"/api/v1/datasets/{ds_id}/rules", {"rules": RULES, "target": 120}).status_code == 422


def test_quality_run_by_hand_opens_a_case_for_the_provider(world: World) -> None:
    ds_id = enterprises(world, "ent-quality")
    assert world.put("op-east", f"/api/v1/datasets/{ds_id}/rules", {"rules": RULES, "target": 95}).status_code == 200
    r = world.post("op-east", f"/api/v1/datasets/{ds_id}/quality-runs")
    assert r.status_code == 201, r.text
    run = r.json()
    rep = run["report"]
    assert (run["dataset_id"], run["rows"], run["valid"], rep["valid"]) == (ds_id, 10, False, False)
    assert run["score"] == pytest.approx(90.0) and rep["score"] == pytest.approx(90.0)
    dims = rep["dimensions"]
    assert dims["conformity"] == pytest.approx(260 / 3) and dims["completeness"] == pytest.approx(90.0)
    assert dims["accuracy"] == pytest.approx(100.0)
    assert dims["consistency"] is None and dims["timeliness"] is None
    assert {x["id"]: (x["failed"], x["checked"]) for x in rep["rules"]} == FOUND
    code_rule = next(x for x in rep["rules"] if x["id"] == "code-valid")
    assert {s["统一社会信用代码"] for s in code_rule["samples"]} == {ENTERPRISES[3][0], ENTERPRISES[7][0]}
    # 90 is under the target 95: a case for the provider department 东区市场监管局, channel data-quality
    case_id = run["case_id"]
    assert case_id
    case = world.get("admin", f"/api/v1/cases/{case_id}")
    assert case.status_code == 200, case.text
    c = case.json()
    assert (c["channel"], c["tenant_id"], c["department_id"], c["category"]) == (
        "data-quality", EAST, "east-amr", "E09")
    assert "ent-quality 企业登记信息" in (c["title"] or "") and "code-valid" in (c["description"] or "")
    # a second low run adds to the open case instead of opening another
    again = world.post("op-east", f"/api/v1/datasets/{ds_id}/quality-runs", {}).json()
    assert again["case_id"] == case_id
    with session_scope(world.settings) as s:
        cases = list(s.scalars(select(Case).where(Case.external_id == f"dq-{ds_id}")))
        assert [(x.id, x.channel, x.department_id) for x in cases] == [(case_id, "data-quality", "east-amr")]
    runs = world.get("dept-east", f"/api/v1/datasets/{ds_id}/quality-runs").json()
    assert [x["id"] for x in runs] == [again["id"], run["id"]]  # newest first
    assert world.get("op-east", f"/api/v1/datasets/{ds_id}").json()["last_score"] == pytest.approx(90.0)
    assert [a for a, _, _ in audit_of(world.settings, ds_id)].count("dataset.quality") == 2


def test_a_score_at_the_target_opens_no_case(world: World) -> None:
    ds_id = enterprises(world, "ent-at-target")
    world.put("op-east", f"/api/v1/datasets/{ds_id}/rules", {"rules": RULES, "target": 90})
    run = world.post("dept-east", f"/api/v1/datasets/{ds_id}/quality-runs").json()
    assert run["score"] == pytest.approx(90.0) and run["case_id"] is None  # not under 90


def test_rules_in_the_body_are_run_not_stored(world: World) -> None:
    ds_id = enterprises(world, "ent-body-rules")
    body = {"rules": [{"id": "capital-max", "kind": "range", "column": "注册资本", "max": 1000}]}
    run = world.post("op-east", f"/api/v1/datasets/{ds_id}/quality-runs", body).json()
    # 1200, 1200 and 2000 are above 1000: 3 of 10 fail → 70, under the default target 80
    rule = run["report"]["rules"][0]
    assert (rule["failed"], rule["checked"], run["score"]) == (3, 10, pytest.approx(70.0))
    assert run["case_id"] is not None
    assert world.get("op-east", f"/api/v1/datasets/{ds_id}/rules").json()["rules"] == []


def test_a_run_without_rules_or_data_says_what_to_do(world: World) -> None:
    ds_id = enterprises(world, "ent-no-rules")
    r = world.post("op-east", f"/api/v1/datasets/{ds_id}/quality-runs")
    assert r.status_code == 422 and "no quality rules" in error(r)["message"] and error(r)["fix"]
    empty = world.create("op-east", "ent-no-data", EAST, entry("LJ-NO-DATA", "未加载", "east-amr"))["id"]
    r = world.post("op-east", f"/api/v1/datasets/{empty}/quality-runs", {"rules": RULES})
    assert r.status_code == 422 and "no data" in error(r)["message"]
    assert world.post("auditor", f"/api/v1/datasets/{ds_id}/quality-runs", {"rules": RULES}).status_code == 403


def test_a_reference_rule_cannot_read_another_districts_dataset(world: World) -> None:
    west = world.loaded("admin", "west-register", WEST, entry("LJ-W-REG", "西区企业名录", "west-cg"),
                        csv_bytes(ENTERPRISE_HEADER, ENTERPRISES[:3]))
    east = enterprises(world, "ent-reference")
    rule = {"id": "known-in-west", "kind": "reference", "column": "统一社会信用代码", "dataset": west}
    r = world.post("op-east", f"/api/v1/datasets/{east}/quality-runs", {"rules": [rule]})
    # the east operator may not see the west's dataset: its rows must not decide (nor reveal) anything
    assert r.status_code == 404, f"{r.status_code}: the west dataset was read ({r.text[:300]})"


def test_a_provider_from_an_unrelated_district_does_not_lose_the_run(world: World) -> None:
    # 西区城管局 cannot own a case of 东区: the catalogue must refuse it as the provider, or the run must still be kept
    r = world.post("op-east", "/api/v1/datasets", {"name": "ent-cross", "tenant": EAST,
                                                   "entry": entry("LJ-CROSS", "跨区提供方", "west-cg")})
    if r.status_code == 422:
        assert "west-cg" in error(r)["message"]
        return
    assert r.status_code == 201, r.text
    ds_id = r.json()["id"]
    assert world.upload("op-east", ds_id, csv_bytes(ENTERPRISE_HEADER, ENTERPRISES)).status_code == 200
    world.put("op-east", f"/api/v1/datasets/{ds_id}/rules", {"rules": RULES, "target": 95})
    run = world.post("op-east", f"/api/v1/datasets/{ds_id}/quality-runs")
    assert run.status_code == 201, f"the run under target was lost: {run.text[:300]}"
    assert run.json()["score"] == pytest.approx(90.0) and run.json()["case_id"]


def test_ranking_by_hand(world: World) -> None:
    # 北区: north-a has two datasets scoring 90 and 100, north-b one scoring 50 (2 of 4 names missing)
    a1 = world.loaded("admin", "north-a1", NORTH, entry("LJ-N-A1", "北区企业一", "north-a"),
                      csv_bytes(ENTERPRISE_HEADER, ENTERPRISES))
    a2 = world.loaded("admin", "north-a2", NORTH, entry("LJ-N-A2", "北区许可", "north-a"),
                      csv_bytes(LICENCE_HEADER, LICENCES))
    b1 = world.loaded("admin", "north-b1", NORTH, entry("LJ-N-B1", "北区企业二", "north-b"),
                      csv_bytes(ENTERPRISE_HEADER, [ENTERPRISES[0], ENTERPRISES[5], ENTERPRISES[1], ENTERPRISES[5]]))
    for ds_id, rules in ((a1, RULES), (a2, [{"id": "no", "kind": "not-null", "column": "许可证号"}]),
                         (b1, [{"id": "name", "kind": "not-null", "column": "企业名称"}])):
        assert world.post("op-north", f"/api/v1/datasets/{ds_id}/quality-runs", {"rules": rules}).status_code == 201
    rows = world.get("op-north", "/api/v1/quality/ranking").json()
    got = [(r["rank"], r["department_id"], r["department"], r["datasets"], r["score"], r["below_target"],
            r["invalid"]) for r in rows]
    assert got == [(1, "north-a", "北区交通局", 2, pytest.approx(95.0), 0, 1),
                   (2, "north-b", "北区水务局", 1, pytest.approx(50.0), 1, 1)]
    assert world.get("admin", "/api/v1/quality/ranking", tenant=NORTH).json() == rows
    assert "north-a" not in world.get("op-east", "/api/v1/quality/ranking").text


def test_dcat_holds_the_callers_catalogue(world: World) -> None:
    enterprises(world, "ent-dcat")
    doc = world.get("op-east", "/api/v1/catalog/dcat").json()
    assert doc["@type"] == "dcat:Catalog" and doc["dct:title"] == "政务数据资源目录"
    titles = {d["dct:title"] for d in doc["dcat:dataset"]}
    assert "ent-dcat 企业登记信息" in titles
    ours = next(d for d in doc["dcat:dataset"] if d["dct:title"] == "ent-dcat 企业登记信息")
    assert ours["dct:identifier"] == "LJ-ent-dcat"
    assert ours["@id"] == "https://data.example.gov.cn/dataset/LJ-ent-dcat"
    other = world.get("op-east", "/api/v1/catalog/dcat", base_uri="https://data.lj.gov.cn/ds/").json()
    assert "https://data.lj.gov.cn/ds/LJ-ent-dcat" in {d["@id"] for d in other["dcat:dataset"]}


def test_a_provider_named_by_its_department_name_is_found_and_exported(world: World) -> None:
    # imported and hand-typed catalogues name the provider (资源提供方) by its name, not by an id
    made = world.create("op-north", "north-by-name", NORTH, entry("LJ-N-NAME", "北区公交线路", "北区交通局"))
    assert made["department_id"] == "north-a"
    doc = world.get("op-north", "/api/v1/catalog/dcat")
    assert doc.status_code == 200, doc.text
    assert "北区公交线路" in {d["dct:title"] for d in doc.json()["dcat:dataset"]}
    assert world.get("op-north", f"/api/v1/datasets/{made['id']}").json()["department_id"] == "north-a"


# ---- sharing ------------------------------------------------------------------------------------------------------


def test_unconditional_is_granted_at_once_and_every_read_is_metered(world: World) -> None:
    ds_id = licences(world, "lic-open")
    body = {"dataset": ds_id, "department": "west-cg", "purpose": "占道经营执法核查", "scenario": "执法核查",
            "fields": ["许可证号", "企业名称"], "days": 30}
    r = world.request("dept-west", body)
    assert r.status_code == 201, r.text
    grant = r.json()
    assert (grant["status"], grant["status_zh"], grant["decided_by"]) == ("granted", "已授权", "auto")
    assert (grant["tenant_id"], grant["requester_department_id"], grant["requester_tenant_id"]) == (
        EAST, "west-cg", WEST)
    token = grant["token"]
    assert token and token.startswith("cyg_")
    with session_scope(world.settings) as s:
        req = s.get(SharingRequest, grant["id"])
        assert req is not None and req.expires_at - req.decided_at == timedelta(days=30)
        assert req.token_hash == hashlib.sha256(token.encode()).hexdigest()  # only its SHA-256 is kept
    # pages of 2 over 5 rows: 2, 2, 1, then nothing past the end
    want = [{"许可证号": no, "企业名称": name} for no, name, _, _ in LICENCES]
    seen = []
    for offset, n in ((0, 2), (2, 2), (4, 1), (10, 0)):
        page = world.rows(token, limit=2, offset=offset)
        assert page.status_code == 200, page.text
        p = page.json()
        assert (p["dataset"], p["fields"], p["total"], p["offset"], len(p["rows"])) == (
            "lic-open", ["许可证号", "企业名称"], 5, offset, n)
        seen += p["rows"]
    assert seen == want  # the granted fields only: no 许可事项, no 有效期至
    usage = world.get("op-east", "/api/v1/sharing/usage", dataset=ds_id).json()
    assert usage == [{"dataset_id": ds_id, "consumer_department_id": "west-cg", "scenario": "执法核查",
                      "calls": 4, "rows": 5}]
    assert world.get("admin", "/api/v1/sharing/usage", tenant=EAST, dataset=ds_id).json() == usage
    assert world.get("op-west", "/api/v1/sharing/usage", dataset=ds_id).json() == []  # the provider's figures
    all_fields = world.request("dept-west", body | {"fields": None}).json()["token"]
    assert world.rows(all_fields, limit=1).json()["rows"] == [dict(zip(LICENCE_HEADER, LICENCES[0], strict=True))]


def test_conditional_waits_for_the_provider_department(world: World) -> None:
    ds_id = enterprises(world, "ent-share")
    body = {"dataset": ds_id, "department": "west-cg", "purpose": "核实商户主体资格", "scenario": "商户核验",
            "fields": ["统一社会信用代码", "企业名称"]}
    r = world.request("dept-west", body)
    assert r.status_code == 201, r.text
    req = r.json()
    assert (req["status"], req["status_zh"], req["token"], req["decided_at"]) == ("pending", "待审批", None, None)
    inbox = world.get("dept-east", "/api/v1/sharing-requests", status="pending", dataset=ds_id).json()
    assert [i["id"] for i in inbox["items"]] == [req["id"]] and inbox["total"] == 1
    assert world.get("dept-west", f"/api/v1/sharing-requests/{req['id']}").json()["status"] == "pending"
    # the requester may not grant itself; another district's staff do not even see the request
    own = world.post("dept-west", f"/api/v1/sharing-requests/{req['id']}/decision", {"approve": True})
    assert own.status_code == 403
    assert world.post("op-north", f"/api/v1/sharing-requests/{req['id']}/decision",
                      {"approve": True}).status_code == 404
    assert world.get("op-north", f"/api/v1/sharing-requests/{req['id']}").status_code == 404
    r = world.post("dept-east", f"/api/v1/sharing-requests/{req['id']}/decision", {"approve": True,
                                                                                   "note": "同意，限商户核验"})
    assert r.status_code == 200, r.text
    grant = r.json()
    assert (grant["status"], grant["decided_by"], grant["decision_note"]) == ("granted", "dept-east", "同意，限商户核验")
    page = world.rows(grant["token"], limit=3, offset=3).json()
    assert page["total"] == 10 and page["fields"] == ["统一社会信用代码", "企业名称"]
    assert page["rows"] == [{"统一社会信用代码": c, "企业名称": n or None} for c, n, *_ in ENTERPRISES[3:6]]
    again = world.post("dept-east", f"/api/v1/sharing-requests/{req['id']}/decision", {"approve": False,
                                                                                       "note": "改主意"})
    assert again.status_code == 409 and error(again)["code"] == "conflict"
    assert "token" not in world.get("dept-east", f"/api/v1/sharing-requests/{req['id']}").json()


def test_a_refusal_needs_its_reason(world: World) -> None:
    ds_id = enterprises(world, "ent-refuse")
    req = world.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "了解情况"}).json()
    r = world.post("dept-east", f"/api/v1/sharing-requests/{req['id']}/decision", {"approve": False})
    assert r.status_code == 422 and "note" in error(r)["message"] and error(r)["fix"]
    assert world.get("dept-east", f"/api/v1/sharing-requests/{req['id']}").json()["status"] == "pending"
    r = world.post("dept-east", f"/api/v1/sharing-requests/{req['id']}/decision",
                   {"approve": False, "note": "用途不明确"})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["status"], got["status_zh"], got["decision_note"], got["token"]) == ("refused", "已驳回", "用途不明确", None)
    assert [i["id"] for i in world.get("dept-west", "/api/v1/sharing-requests", status="refused",
                                       dataset=ds_id).json()["items"]] == [req["id"]]


def test_a_revoked_grant_stops_at_once(world: World) -> None:
    ds_id = licences(world, "lic-revoke")
    grant = world.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "执法"}).json()
    assert world.rows(grant["token"]).status_code == 200
    assert world.post("dept-west", f"/api/v1/sharing-requests/{grant['id']}/revoke").status_code == 403
    r = world.post("dept-east", f"/api/v1/sharing-requests/{grant['id']}/revoke")
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["status_zh"]) == ("revoked", "已撤销") and r.json()["revoked_at"]
    refused = world.rows(grant["token"])
    assert refused.status_code == 403
    err = error(refused)
    assert err["code"] == "grant-refused" and "revoked" in err["message"] and err["fix"]
    assert world.post("dept-east", f"/api/v1/sharing-requests/{grant['id']}/revoke").status_code == 409
    calls = world.get("op-east", "/api/v1/sharing/usage", dataset=ds_id).json()
    assert [(u["calls"], u["rows"]) for u in calls] == [(1, 5)]  # the refused read is not a call


def test_a_revocation_may_give_its_reason(world: World) -> None:
    ds_id = licences(world, "lic-revoke-note")
    grant = world.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "执法"}).json()
    r = world.post("dept-east", f"/api/v1/sharing-requests/{grant['id']}/revoke", {"note": "专项行动已结束"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "revoked" and "专项行动已结束" in (r.json()["decision_note"] or "")


def test_an_expired_grant_is_refused(world: World) -> None:
    ds_id = licences(world, "lic-expire")
    grant = world.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "执法",
                                        "days": 1}).json()
    assert world.rows(grant["token"]).status_code == 200
    with session_scope(world.settings) as s:
        req = s.get(SharingRequest, grant["id"])
        assert req is not None
        req.expires_at = utcnow() - timedelta(minutes=1)
    refused = world.rows(grant["token"])
    assert refused.status_code == 403 and error(refused)["code"] == "grant-refused"
    assert "expired" in error(refused)["message"]
    got = world.get("dept-west", f"/api/v1/sharing-requests/{grant['id']}").json()
    assert (got["status"], got["status_zh"]) == ("expired", "已过期")
    listed = world.get("dept-east", "/api/v1/sharing-requests", status="expired", dataset=ds_id).json()
    assert [i["id"] for i in listed["items"]] == [grant["id"]]


def test_a_dataset_not_shared_cannot_be_requested(world: World) -> None:
    ds_id = enterprises(world, "ent-closed", sharing="不予共享")
    r = world.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "执法"})
    assert r.status_code == 422 and "不予共享" in error(r)["message"] and error(r)["fix"]
    with session_scope(world.settings) as s:
        assert s.scalar(select(SharingRequest.id).where(SharingRequest.dataset_id == ds_id)) is None


def test_requests_are_made_only_for_the_callers_departments(world: World) -> None:
    ds_id = licences(world, "lic-other-dept")
    r = world.request("dept-west", {"dataset": ds_id, "department": "east-tax", "purpose": "冒名申请"})
    assert r.status_code == 403 and error(r)["code"] == "forbidden"
    assert world.request("dept-west", {"dataset": ds_id, "department": "nope", "purpose": "x"}).status_code == 404
    assert world.request("auditor", {"dataset": ds_id, "department": "west-cg", "purpose": "x"}).status_code == 403
    with session_scope(world.settings) as s:
        assert s.scalar(select(SharingRequest.id).where(SharingRequest.dataset_id == ds_id)) is None
    bad = world.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "x", "fields": ["手机号"]})
    assert bad.status_code == 422 and "手机号" in error(bad)["message"]


def test_a_dataset_is_requested_by_name_within_its_unit(world: World) -> None:
    licences(world, "lic-by-name")
    world.loaded("admin", "lic-by-name", WEST, entry("LJ-lic-by-name-w", "西区许可", "west-cg", "无条件共享"),
                 csv_bytes(LICENCE_HEADER, LICENCES[:1]))
    r = world.request("dept-west", {"dataset": "lic-by-name", "tenant": EAST, "department": "west-cg", "purpose": "x"})
    assert r.status_code == 201 and r.json()["tenant_id"] == EAST
    assert world.rows(r.json()["token"]).json()["total"] == 5
    both = world.request("dept-west", {"dataset": "lic-by-name", "department": "west-cg", "purpose": "x"})
    assert both.status_code == 422 and "several units" in error(both)["message"]


def test_a_grant_of_a_dataset_not_loaded_yet_says_so(world: World) -> None:
    ds_id = world.create("op-east", "lic-unloaded", EAST, entry("LJ-UNLOADED", "待加载", "east-amr", "无条件共享"))["id"]
    token = world.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "x"}).json()["token"]
    r = world.rows(token)
    assert r.status_code == 404 and "no data" in error(r)["message"] and error(r)["fix"]


def test_a_grant_whose_field_the_provider_dropped_is_answered_not_crashed(world: World) -> None:
    ds_id = licences(world, "lic-dropped")
    token = world.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "x",
                                        "fields": ["许可证号", "企业名称"]}).json()["token"]
    assert world.rows(token, limit=1).status_code == 200
    narrower = csv_bytes(["许可证号", "许可事项"], [(no, what) for no, _, what, _ in LICENCES])
    assert world.upload("op-east", ds_id, narrower).status_code == 200  # the provider drops 企业名称
    r = world.rows(token, limit=1)
    assert r.status_code < 500, r.text
    assert r.status_code >= 400 and "企业名称" in error(r)["message"] and error(r)["fix"]


def test_bad_tokens_are_refused(world: World) -> None:
    r = world.rows("cyg_not-a-token-anyone-was-given")
    assert r.status_code == 403 and error(r)["code"] == "grant-refused"
    assert world.client.get("/api/v1/shared/rows").status_code == 422  # no header
    ds_id = licences(world, "lic-limits")
    token = world.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "x"}).json()["token"]
    assert world.rows(token, limit=0).status_code == 422
    assert world.rows(token, limit=10_001).status_code == 422
    assert world.rows(token, offset=-1).status_code == 422
    with session_scope(world.settings) as s:
        assert s.scalar(select(DataAccess.id).where(DataAccess.dataset_id == ds_id)) is None  # none of them read


def test_each_sharing_step_is_audited(world: World) -> None:
    open_id, cond_id = licences(world, "lic-audit"), enterprises(world, "ent-audit")
    auto = world.request("dept-west", {"dataset": open_id, "department": "west-cg", "purpose": "执法"}).json()
    world.post("dept-east", f"/api/v1/sharing-requests/{auto['id']}/revoke")
    ok = world.request("dept-west", {"dataset": cond_id, "department": "west-cg", "purpose": "核验"}).json()
    world.post("dept-east", f"/api/v1/sharing-requests/{ok['id']}/decision", {"approve": True})
    no = world.request("dept-west", {"dataset": cond_id, "department": "west-cg", "purpose": "再次核验"}).json()
    world.post("dept-east", f"/api/v1/sharing-requests/{no['id']}/decision", {"approve": False, "note": "重复申请"})
    assert audit_of(world.settings, auto["id"]) == [("sharing.request", "dept-west", EAST),
                                                    ("sharing.grant", "auto", EAST),
                                                    ("sharing.revoke", "dept-east", EAST)]
    assert audit_of(world.settings, ok["id"]) == [("sharing.request", "dept-west", EAST),
                                                  ("sharing.grant", "dept-east", EAST)]
    assert audit_of(world.settings, no["id"]) == [("sharing.request", "dept-west", EAST),
                                                  ("sharing.refuse", "dept-east", EAST)]


def test_the_request_list_holds_the_provider_and_the_requester_only(world: World) -> None:
    ds_id = licences(world, "lic-list")
    req = world.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "执法"}).json()

    def listed(who: str) -> set[str]:
        return {i["id"] for i in world.get(who, "/api/v1/sharing-requests", dataset=ds_id, limit=500).json()["items"]}

    assert listed("dept-east") == {req["id"]} and listed("dept-west") == {req["id"]} and listed("admin") == {req["id"]}
    assert listed("op-north") == set()
    assert world.get("auditor", "/api/v1/sharing-requests").status_code == 403


# ---- the whole path, on SQLite and PostgreSQL ----------------------------------------------------------------------


def test_end_to_end_on_each_database(ws: Settings, cheap_hashes: None, tmp_path: Path) -> None:
    with open_world(build_city(ws)) as w:
        ds_id = enterprises(w, "ent-e2e")
        assert w.put("op-east", f"/api/v1/datasets/{ds_id}/rules", {"rules": RULES, "target": 95}).status_code == 200
        run = w.post("op-east", f"/api/v1/datasets/{ds_id}/quality-runs").json()
        assert run["score"] == pytest.approx(90.0) and run["case_id"]
        assert {x["id"]: (x["failed"], x["checked"]) for x in run["report"]["rules"]} == FOUND
        case = w.get("admin", f"/api/v1/cases/{run['case_id']}").json()
        assert (case["channel"], case["department_id"]) == ("data-quality", "east-amr")
        assert w.get("op-east", "/api/v1/datasets", q="企业登记").json()["total"] == 1
        w.create("op-east", "kw-e2e", EAST, entry("LJ-KW", "关键字资源", "east-amr", keywords=["信用监管"]))
        assert [d["name"] for d in w.get("op-east", "/api/v1/datasets", q="信用监管").json()["items"]] == ["kw-e2e"]
        assert w.get("op-west", f"/api/v1/datasets/{ds_id}").status_code == 404
        req = w.request("dept-west", {"dataset": ds_id, "department": "west-cg", "purpose": "核验",
                                      "fields": ["企业名称"], "scenario": "商户核验"}).json()
        grant = w.post("dept-east", f"/api/v1/sharing-requests/{req['id']}/decision", {"approve": True}).json()
        page = w.rows(grant["token"], limit=4).json()
        assert page["rows"] == [{"企业名称": n} for _, n, *_ in ENTERPRISES[:4]]
        assert w.get("op-east", "/api/v1/sharing/usage").json() == [
            {"dataset_id": ds_id, "consumer_department_id": "west-cg", "scenario": "商户核验", "calls": 1, "rows": 4}]
        rank = w.get("admin", "/api/v1/quality/ranking").json()
        assert [(r["department_id"], r["score"], r["below_target"]) for r in rank] == [
            ("east-amr", pytest.approx(90.0), 1)]
