"""The demo city's data resources through the catalogue domain (数据资源).

* The generated catalogue is entered in the state DB as catalogue entries (``register_catalogue``); the lake's
  ``datasets`` table is then the domain's export, like the asset registry's.
* A handful of the city's datasets come with data (``load_live``): files the departments hand over (a GB18030
  CSV of the enterprise registry, an Excel sheet of resident records, Parquet air-quality readings) and a table of
  a legacy licensing system read through its SQLAlchemy URL. Each is registered, profiled, given rules and checked;
  scores under target open cases for the providing department. Then a few sharing requests go through the
  workflow: one granted at once and read, one approved, one refused, one waiting in the inbox.

The faults in the live data are drawn at fixed rates, so the reports show failing rows of every kind; the
identifiers are synthetic (valid check characters except where a fault is drawn).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import insert
from sqlalchemy.orm import Session

from chengyun.catalog.entry import CatalogEntry
from chengyun.catalog.models import Dataset
from chengyun.catalog.validators import credit_check_char, resident_check_char
from chengyun.core.settings import Settings
from chengyun.demo import names as N
from chengyun.demo.streams import Columns

if TYPE_CHECKING:
    from chengyun.demo.generator import World

REGISTERED_BEFORE = timedelta(days=10)
CYCLES = {1: "daily", 7: "weekly", 30: "monthly", 90: "quarterly", 365: "yearly"}
OPEN = {True: "open", False: "closed"}
REGIONS = ("320102", "320104", "320105", "320106", "320111", "320113", "320114", "320115")  # 6-digit area codes


def _plain(columns: Columns) -> list[dict[str, Any]]:
    table = pa.table({k: v.dictionary_decode() if isinstance(v, pa.DictionaryArray) else v for k, v in columns.items()})
    return table.to_pylist()


def register_catalogue(session: Session, columns: Columns) -> int:
    """Enter the generated catalogue (目录) as datasets described but not loaded; one insert."""
    rows = []
    for i, r in enumerate(_plain(columns)):
        cycle = CYCLES.get(int(r["update_cycle_days"]), "irregular")
        catalogued = bool(r["catalogued"])
        rows.append({
            "id": r["dataset_id"], "tenant_id": r["tenant"], "name": r["dataset_id"].lower(), "title": r["name"],
            "code": f"{r['dataset_id']}" if catalogued else None, "department_id": r["department_id"],
            "summary": f"{r['name']}，由提供方按{N.CYCLE_WORDS.get(cycle, '不定期')}更新。" if catalogued else None,
            "format": ("CSV", "XLSX", "API", "DB")[i % 4] if catalogued else None,
            "sharing_type": r["sharing_type"], "open_type": OPEN[bool(r["open"])],
            "update_cycle": cycle if catalogued else None, "update_cycle_days": float(r["update_cycle_days"]),
            "catalogued": catalogued, "quality_target": 80.0, "created_at": r["registered_at"],
            "updated_at": r["registered_at"], "published_at": r["registered_at"] if catalogued else None,
        })
    session.execute(insert(Dataset), rows)
    return len(rows)


# ---- live datasets ------------------------------------------------------------------------------------------


def _credit_codes(g: np.random.Generator, n: int, bad: float) -> list[str]:
    regions = g.choice(REGIONS, n)
    bodies = [f"9{1 if k % 5 else 2}{reg}{g.integers(0, 10**9):09d}" for k, reg in enumerate(regions)]
    codes = [b + credit_check_char(b) for b in bodies]
    for i in np.flatnonzero(g.random(n) < bad):
        codes[i] = codes[i][:-1] + ("0" if codes[i][-1] != "0" else "1")  # a wrong check character
    return codes


def _resident_ids(g: np.random.Generator, n: int, bad: float, today: datetime) -> tuple[list[str], list[str]]:
    born = [today - timedelta(days=int(d)) for d in g.integers(18 * 365, 85 * 365, n)]
    ids, days = [], []
    for reg, b in zip(g.choice(REGIONS, n), born, strict=True):
        body = f"{reg}{b:%Y%m%d}{g.integers(0, 1000):03d}"
        ids.append(body + resident_check_char(body))
        days.append(f"{b:%Y-%m-%d}")
    for i in np.flatnonzero(g.random(n) < bad):
        ids[i] = ids[i][:-1] + ("X" if ids[i][-1] != "X" else "0")
    return ids, days


def _mobiles(g: np.random.Generator, n: int, bad: float) -> list[str | None]:
    out: list[str | None] = [f"1{g.choice([3, 5, 7, 8, 9])}{g.integers(0, 10**9):09d}" for _ in range(n)]
    for i in np.flatnonzero(g.random(n) < bad):
        out[i] = f"0{g.integers(10**9, 10**10)}"  # a landline where a mobile belongs
    for i in np.flatnonzero(g.random(n) < .03):
        out[i] = None
    return out


def _enterprises(g: np.random.Generator, n: int, today: datetime) -> pa.Table:
    codes = _credit_codes(g, n, .025)
    founded = [today - timedelta(days=int(d)) for d in g.integers(30, 25 * 365, n)]
    cancelled: list[datetime | None] = [None] * n
    for i in np.flatnonzero(g.random(n) < .08):
        cancelled[i] = founded[i] + timedelta(days=int(g.integers(-200, 3000)))  # some before founding: faults
    names: list[str | None] = [f"临江{N.COMPANY_WORDS[k % len(N.COMPANY_WORDS)]}{k:04d}有限公司" for k in range(n)]
    for i in np.flatnonzero(g.random(n) < .012):
        names[i] = None
    capital = np.round(g.lognormal(5, 1.3, n), 1)
    capital[g.random(n) < .006] *= -1
    return pa.table({"统一社会信用代码": codes, "企业名称": names, "成立日期": [f"{d:%Y-%m-%d}" for d in founded],
                     "注销日期": [None if d is None else f"{d:%Y-%m-%d}" for d in cancelled],
                     "注册资本_万元": capital, "联系电话": _mobiles(g, n, .04),
                     "所属区划": g.choice([*REGIONS, "320199"], n, p=[.124] * 8 + [.008])})


def _residents(g: np.random.Generator, n: int, today: datetime) -> list[list[Any]]:
    ids, born = _resident_ids(g, n, .015, today)
    mobiles = _mobiles(g, n, .02)
    streets = g.integers(1, 40, n)
    return [[i, b, m, f"临江市第{s}街道"] for i, b, m, s in zip(ids, born, mobiles, streets, strict=True)]


def _air(g: np.random.Generator, today: datetime, stations: int = 12, days: int = 60) -> pa.Table:
    day = [today - timedelta(days=d) for d in range(days, 0, -1)]
    rows = [(f"AQ{s:02d}", d, float(max(3.0, g.normal(38, 18)))) for s in range(stations) for d in day]
    pm = np.array([r[2] for r in rows])
    pm[g.random(len(pm)) < .004] = -1.0  # a sensor fault: a negative concentration
    return pa.table({"station": [r[0] for r in rows], "date": [r[1].date() for r in rows], "pm25": pm,
                     "aqi": np.round(pm * 1.3).astype(np.int64)})


def _licences(path: Path, g: np.random.Generator, codes: list[str], n: int, today: datetime) -> str:
    """A legacy licensing system's SQLite table (食品经营许可); a few holders are not in the enterprise registry."""
    con = sqlite3.connect(path)
    con.execute("DROP TABLE IF EXISTS food_licences")
    con.execute("CREATE TABLE food_licences (licence_no TEXT, holder_code TEXT, issued DATE, expires DATE)")
    rows = []
    for k in range(n):
        issued = today - timedelta(days=int(g.integers(10, 5 * 365)))
        holder = codes[int(g.integers(0, len(codes)))] if g.random() > .02 else _credit_codes(g, 1, 0)[0]
        number = f"JY{g.choice(REGIONS)}{k:07d}" if g.random() > .01 else f"JY-{k}"
        rows.append((number, holder, f"{issued:%Y-%m-%d}", f"{issued + timedelta(days=5 * 365):%Y-%m-%d}"))
    con.executemany("INSERT INTO food_licences VALUES (?, ?, ?, ?)", rows)
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def write_sources(folder: Path, w: World, today: datetime) -> dict[str, tuple[str, str | None]]:
    """The files and the database the departments hand over: name → (source, table)."""
    from openpyxl import Workbook

    folder.mkdir(parents=True, exist_ok=True)
    g = w.rng(95)
    ent = _enterprises(g, 4000, today)
    with (folder / "企业登记信息.csv").open("wb") as fh:  # offices export GB18030 with Chinese headers
        buf = pa.BufferOutputStream()
        pacsv.write_csv(ent, buf)
        fh.write(buf.getvalue().to_pybytes().decode("utf-8").encode("gb18030"))
    wb = Workbook()
    ws = wb.active
    ws.append(["临江市人口基础信息（抽样）", None, None, None])  # a title row above the header, as offices do
    ws.append(["公民身份号码", "出生日期", "手机号码", "居住街道"])
    for row in _residents(g, 3000, today):
        ws.append(row)
    wb.save(folder / "人口基础信息.xlsx")
    pq.write_table(_air(g, today), folder / "air_quality_daily.parquet")
    db = _licences(folder / "licensing.db", g, ent.column("统一社会信用代码").to_pylist(), 2500, today)
    return {"enterprise-registry": (str(folder / "企业登记信息.csv"), None),
            "residents-sample": (str(folder / "人口基础信息.xlsx"), None),
            "air-quality-daily": (str(folder / "air_quality_daily.parquet"), None),
            "food-licences": (db, "food_licences")}


LIVE: dict[str, dict[str, Any]] = {
    "enterprise-registry": {
        "entry": {"code": "LJ-SCJG-000001", "name": "企业登记信息", "provider": "market-regulation",
                  "summary": "全市企业设立、变更、注销登记信息", "format": "CSV", "sharing_type": "有条件共享",
                  "sharing_condition": "用于监管与公共服务，不得向第三方提供", "open_type": "有条件开放",
                  "update_cycle": "每日", "keywords": ["企业", "信用", "登记"]},
        "rules": [{"id": "code-valid", "kind": "cn-credit-code", "column": "统一社会信用代码"},
                  {"id": "code-unique", "kind": "unique", "column": "统一社会信用代码"},
                  {"id": "name-present", "kind": "not-null", "column": "企业名称"},
                  {"id": "capital-positive", "kind": "range", "column": "注册资本_万元", "min": 0},
                  {"id": "cancelled-after-founded", "kind": "compare", "column": "注销日期", "op": ">=",
                   "other": "成立日期"},
                  {"id": "phone-valid", "kind": "cn-mobile", "column": "联系电话"},
                  {"id": "region-known", "kind": "in-set", "column": "所属区划", "values": list(REGIONS)},
                  {"id": "fresh", "kind": "freshness"}],
        "target": 99.0},
    "residents-sample": {
        "entry": {"code": "LJ-GA-000007", "name": "人口基础信息（抽样）", "provider": "police",
                  "summary": "常住人口身份与联系信息抽样", "format": "XLSX", "sharing_type": "有条件共享",
                  "sharing_condition": "仅限身份核验，按字段授权", "open_type": "不予开放", "update_cycle": "每月",
                  "keywords": ["人口", "身份核验"]},
        "rules": [{"id": "id-valid", "kind": "cn-resident-id", "column": "公民身份号码"},
                  {"id": "id-unique", "kind": "unique", "column": "公民身份号码"},
                  {"id": "mobile-valid", "kind": "cn-mobile", "column": "手机号码"},
                  {"id": "mobile-present", "kind": "not-null", "column": "手机号码"},
                  {"id": "street-present", "kind": "not-null", "column": "居住街道"}],
        "target": 99.0},
    "air-quality-daily": {
        "entry": {"code": "LJ-STHJ-000003", "name": "空气质量监测数据（日均）", "provider": "ecology-environment",
                  "summary": "各监测站点 PM2.5 与 AQI 日均值", "format": "Parquet", "sharing_type": "无条件共享",
                  "open_type": "无条件开放", "update_cycle": "每日", "keywords": ["空气质量", "PM2.5"]},
        "rules": [{"id": "pm25-range", "kind": "range", "column": "pm25", "min": 0, "max": 1000},
                  {"id": "station-known", "kind": "pattern", "column": "station", "regex": "AQ[0-9]{2}"},
                  {"id": "daily-rows", "kind": "row-count", "min": 600},
                  {"id": "fresh", "kind": "freshness", "column": "date", "max_age_days": 2}],
        "target": 90.0},
    "food-licences": {
        "entry": {"code": "LJ-SCJG-000004", "name": "食品经营许可信息", "provider": "market-regulation",
                  "summary": "食品经营许可证核发信息（许可系统库表）", "format": "DB", "sharing_type": "无条件共享",
                  "open_type": "无条件开放", "update_cycle": "每周", "keywords": ["食品", "许可"]},
        "rules": [{"id": "number-format", "kind": "pattern", "column": "licence_no", "regex": "JY[0-9]{13}"},
                  {"id": "holder-registered", "kind": "reference", "column": "holder_code",
                   "dataset": "enterprise-registry", "dataset_column": "统一社会信用代码"},
                  {"id": "expires-after-issued", "kind": "compare", "column": "expires", "op": ">", "other": "issued"}],
        "target": 98.0},
}


def load_live(settings: Settings, session: Session, w: World, now: datetime) -> dict[str, Any]:
    """Register the live datasets with their data, describe, check them, and run a few sharing requests."""
    from chengyun.catalog import quality, service

    sources = write_sources(settings.workspace / "demo-sources", w, now)
    runs: dict[str, float | None] = {}
    loaded: dict[str, Dataset] = {}
    for name, spec in LIVE.items():
        source, table = sources[name]
        entry = dict(spec["entry"])
        entry["provider"] = w.departments[entry["provider"]]
        ds, update = service.add_dataset(session, settings, source=source, table=table, name=name, tenant=N.CITY_ID,
                                         provider=entry["provider"], title=entry["name"], actor="demo")
        # registered and loaded ten days before the demo's present, so the requests below come after it
        ds.created_at = ds.updated_at = ds.last_updated_at = update.updated_at = now - REGISTERED_BEFORE
        service.apply_entry(session, ds, CatalogEntry.model_validate(entry), actor="demo")
        quality.set_rules(session, ds, {"rules": spec["rules"]}, target=spec["target"], actor="demo")
        loaded[name] = ds
    cases: set[str] = set()
    for name, ds in loaded.items():  # after every load: the licences refer to the enterprise registry
        run, _report = quality.run_quality(settings, session, ds, actor="demo", now=now)
        runs[name] = run.score
        cases.update([run.case_id] if run.case_id else [])
    return {"datasets": len(loaded), "scores": runs, "cases": len(cases),
            "sharing": share_live(settings, session, w, loaded, now)}


def share_live(settings: Settings, session: Session, w: World, ds: dict[str, Dataset], now: datetime) -> int:
    """A few requests through the sharing workflow: granted at once and read, approved, refused, waiting."""
    from chengyun.catalog import sharing

    d = w.departments

    def ask(name: str, dept: str, purpose: str, scenario: str, hours: float, fields: list[str] | None = None) -> Any:
        return sharing.request_access(session, ds[name], department=d[dept], purpose=purpose, scenario=scenario,
                                      fields=fields, days=180, actor="demo", at=now - timedelta(hours=hours))

    air_t, air_t2 = ask("air-quality-daily", "transport", "重污染天气交通管控", "交通管控", 200)[1], \
        ask("air-quality-daily", "health", "呼吸道疾病预警", "健康预警", 150)[1]
    _licence, licence_token = ask("food-licences", "urban-management", "占道经营执法核查", "执法核查", 120)
    approved, _ = ask("enterprise-registry", "taxation", "纳税人登记信息比对", "信用监管", 96,
                      ["统一社会信用代码", "企业名称", "成立日期", "注销日期"])
    token = sharing.decide(session, approved, approve=True, note="同意，限比对用途", actor="demo",
                           at=now - timedelta(hours=70))
    refused, _ = ask("residents-sample", "culture-tourism", "游客画像分析", "文旅分析", 80)
    sharing.decide(session, refused, approve=False, note="用途与身份核验无关，不予提供", actor="demo",
                   at=now - timedelta(hours=60))
    ask("residents-sample", "civil-affairs", "低保对象身份核验", "身份核验", 20, ["公民身份号码", "居住街道"])
    ask("enterprise-registry", "emergency", "危化品企业核查", "安全监管", 6)
    reads = 0
    for tok, times in ((air_t, 6), (air_t2, 3), (licence_token, 2), (token, 4)):
        assert tok is not None  # granted above
        req = sharing.authorise(session, tok)
        for k in range(times):
            sharing.read_rows(settings, session, req, limit=500, offset=500 * k, at=now - timedelta(hours=5 - k / 2))
            reads += 1
    return reads
