"""Catalogue entries (政务数据资源目录) through DCAT-AP JSON-LD and CKAN package JSON: every shared example with values
read by hand from the files, round trips, Chinese enum values, rejected records, and the JSON-LD we write."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from chengyun.catalog.ckan import ckan_name, from_ckan, json_kind, to_ckan
from chengyun.catalog.dcat import from_dcat, to_dcat
from chengyun.catalog.entry import LABELS, CatalogEntry, Distribution, cycle_days
from chengyun.core.errors import InvalidInput

EU_FREQ = "http://publications.europa.eu/resource/authority/frequency/"
EU_ACCESS = "http://publications.europa.eu/resource/authority/access-right/"
BASE = "https://data.hz.example.gov.cn/dataset/"

# Each JSON file in dcat-examples, opened and judged by hand: which reader it is for and how many datasets it has.
# ckan/ holds plain DCAT JSON (keyword, distribution) besides CKAN packages; Croissant is schema.org, not DCAT.
FORMS: dict[str, tuple[str, int]] = {
    "ckan/catalog.json": ("dcat", 2),
    "ckan/catalog_datasets_list.json": ("dcat", 2),
    "ckan/dataset.json": ("dcat", 1),
    "ckan/ckan_dataset.json": ("ckan", 1),
    "ckan/ckan_dataset_multilingual.json": ("ckan", 1),
    "ckan/ckan_dcat_ap_dataset_series.json": ("ckan", 1),
    "ckan/ckan_full_dataset_croissant.json": ("ckan", 1),
    "ckan/ckan_full_dataset_dcat_ap.json": ("ckan", 1),
    "ckan/ckan_full_dataset_dcat_ap_legacy.json": ("ckan", 1),
    "ckan/ckan_full_dataset_dcat_ap_vocabularies.json": ("ckan", 1),
    "ckan/ckan_full_dataset_dcat_us_vocabularies.json": ("ckan", 1),
    "ckan/full_ckan_dataset_legacy.json": ("ckan", 1),
    "ckan/health_dcat_ap.json": ("ckan", 1),
    "dcat/catalog_pod.jsonld": ("dcat", 1),
    "dcat/catalog_with_at_graph.jsonld": ("dcat", 1),
    "croissant/full_croissant_dataset.jsonld": ("neither", 0),
}
READERS = {"dcat": from_dcat, "ckan": from_ckan}
SURVEY_KEYWORDS = ["exploration", "geochemical-exploration", "geochemical-maps", "geochemistry", "geology",
                   "nercddc", "regional-geology"]
THEMES_123 = [f"https://example.org/uri/theme{i}" for i in (1, 2, 3)]

# (file, dataset index, field, value) — every value read from the file by eye.
HAND_READ: list[tuple[str, int, str, Any]] = [
    ("dcat/catalog_pod.jsonld", 0, "name", "U.S. Widget Manufacturing Statistics"),
    ("dcat/catalog_pod.jsonld", 0, "code", "widgets-0001"),
    ("dcat/catalog_pod.jsonld", 0, "provider", "Widget Services"),
    ("dcat/catalog_pod.jsonld", 0, "keywords", ["widget", "manufacturing", "factory"]),
    ("dcat/catalog_pod.jsonld", 0, "update_cycle", "yearly"),  # accrualPeriodicity R/P1Y
    ("dcat/catalog_pod.jsonld", 0, "published", date(2011, 11, 22)),
    ("dcat/catalog_pod.jsonld", 0, "themes", ["manufacturing"]),
    ("dcat/catalog_pod.jsonld", 0, "landing_page", "http://agency.gov/widgets/data"),
    ("dcat/catalog_pod.jsonld", 0, "format", "CSV"),
    ("dcat/catalog_with_at_graph.jsonld", 0, "name", "Title dataset"),
    ("dcat/catalog_with_at_graph.jsonld", 0, "code",
     "https://ckan.example.org/dataset/d4ce4e6e-ab89-44cb-bf5c-33a162c234de#dataset"),  # no dct:identifier
    ("dcat/catalog_with_at_graph.jsonld", 0, "summary", "Description distribution"),
    ("dcat/catalog_with_at_graph.jsonld", 0, "provider", None),  # the publisher belongs to the catalogue
    ("ckan/dataset.json", 0, "code", "9df8df51-63db-37a8-e044-0003ba9b0d98"),
    ("ckan/dataset.json", 0, "provider", "Geological Society"),
    ("ckan/dataset.json", 0, "published", date(2012, 5, 10)),
    ("ckan/dataset.json", 0, "keywords", SURVEY_KEYWORDS),
    ("ckan/dataset.json", 0, "landing_page", "http://some.source.url.com"),
    ("ckan/catalog.json", 1, "name", "Example dataset 2"),
    ("ckan/catalog.json", 1, "code", "https://data.some.org/catalog/datasets/2"),
    ("ckan/catalog.json", 1, "provider", "Publishing Organization for dataset 2"),
    ("ckan/catalog.json", 1, "published", date(2012, 6, 21)),
    ("ckan/catalog.json", 1, "keywords", ["stats", "education", "sloths"]),
    ("ckan/catalog.json", 0, "published", date(2013, 4, 26)),  # 2013-04-26T00:00:00Z
    ("ckan/catalog.json", 0, "format", "CSV"),  # first distribution: text/csv
    ("ckan/ckan_full_dataset_dcat_ap.json", 0, "name", "Test DCAT dataset"),
    ("ckan/ckan_full_dataset_dcat_ap.json", 0, "code", "xx-some-dataset-id-yy"),
    ("ckan/ckan_full_dataset_dcat_ap.json", 0, "provider", "Test Publisher"),
    ("ckan/ckan_full_dataset_dcat_ap.json", 0, "keywords", ["Tag 1", "Tag 2"]),
    ("ckan/ckan_full_dataset_dcat_ap.json", 0, "update_cycle", "monthly"),
    ("ckan/ckan_full_dataset_dcat_ap.json", 0, "published", date(2024, 5, 1)),
    ("ckan/ckan_full_dataset_dcat_ap.json", 0, "themes", THEMES_123),
    ("ckan/ckan_full_dataset_dcat_ap.json", 0, "related_services",
     ["https://doi.org/10.1038/sdata.2018.22", "test_isreferencedby"]),
    ("ckan/ckan_full_dataset_dcat_ap.json", 0, "sharing_type", "conditional"),  # access_rights is free text
    ("ckan/ckan_full_dataset_dcat_ap_vocabularies.json", 0, "update_cycle", "monthly"),  # EU MONTHLY
    ("ckan/ckan_full_dataset_dcat_ap_vocabularies.json", 0, "sharing_type", "unconditional"),  # PUBLIC
    ("ckan/ckan_full_dataset_dcat_ap_vocabularies.json", 0, "open_type", "open"),
    ("ckan/ckan_full_dataset_dcat_ap_vocabularies.json", 0, "format", "CSV"),  # file-type/CSV
    ("ckan/ckan_full_dataset_dcat_us_vocabularies.json", 0, "update_cycle", "yearly"),  # cld/terms/annual
    ("ckan/ckan_full_dataset_dcat_ap_legacy.json", 0, "themes", THEMES_123),  # JSON text in an extra
    ("ckan/ckan_full_dataset_dcat_ap_legacy.json", 0, "provider", "Test Publisher"),
    ("ckan/health_dcat_ap.json", 0, "code", "http://example.com/dataset/1234567890"),
    ("ckan/health_dcat_ap.json", 0, "update_cycle", "daily"),
    ("ckan/health_dcat_ap.json", 0, "open_type", "closed"),  # NON_PUBLIC
    ("ckan/health_dcat_ap.json", 0, "sharing_type", "conditional"),
    ("ckan/health_dcat_ap.json", 0, "published", date(2024, 1, 1)),
    ("ckan/health_dcat_ap.json", 0, "keywords", ["Test 1", "Test 2", "Test 3"]),
    ("ckan/health_dcat_ap.json", 0, "distributions", []),  # its one resource is all blanks
    ("ckan/ckan_dataset.json", 0, "code", "9df8df51-63db-37a8-e044-0003ba9b0d98"),  # the guid extra
    ("ckan/ckan_dataset.json", 0, "provider", "Geological Society"),
    ("ckan/ckan_dataset_multilingual.json", 0, "code", "test-dataset-multilingual"),
    ("ckan/ckan_dataset_multilingual.json", 0, "summary", "Some description"),  # en of en/ca/es
    ("ckan/ckan_full_dataset_croissant.json", 0, "published", date(2024, 5, 2)),
    ("ckan/ckan_full_dataset_croissant.json", 0, "format", "ZIP"),
    ("ckan/full_ckan_dataset_legacy.json", 0, "published", date(2012, 5, 10)),  # dcat_issued, not 2011
    ("ckan/full_ckan_dataset_legacy.json", 0, "provider", None),  # the maintainer is a contact
]


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _read(shared_data: Path, name: str) -> list[CatalogEntry]:
    return READERS[FORMS[name][0]](_load(shared_data / "dcat-examples" / name))


def test_every_json_example_has_a_declared_form(shared_data: Path) -> None:
    root = shared_data / "dcat-examples"
    found = {str(p.relative_to(root)) for p in root.rglob("*") if p.suffix in (".json", ".jsonld")}
    assert found == set(FORMS)


@pytest.mark.parametrize("name", [n for n, (form, _) in FORMS.items() if form != "neither"])
def test_example_imports_and_other_reader_refuses(shared_data: Path, name: str) -> None:
    form, count = FORMS[name]
    doc = _load(shared_data / "dcat-examples" / name)
    entries = READERS[form](doc)
    assert len(entries) == count
    assert all(e.name and e.code for e in entries)
    assert json_kind(doc) == form
    other = from_ckan if form == "dcat" else from_dcat
    with pytest.raises(InvalidInput, match="from_dcat" if form == "dcat" else "from_ckan"):
        other(doc)


@pytest.mark.parametrize(("name", "index", "field", "value"), HAND_READ)
def test_hand_read_values(shared_data: Path, name: str, index: int, field: str, value: Any) -> None:
    assert getattr(_read(shared_data, name)[index], field) == value


def test_distributions_of_examples(shared_data: Path) -> None:
    pod = _read(shared_data, "dcat/catalog_pod.jsonld")[0].distributions
    assert [d.title for d in pod] == ["widgets.csv", "widgets-all.zip", "widgets-all.json", "Widgets REST API"]
    assert pod[0].download_url == "https://data.agency.gov/datasets/widgets-statistics/widgets.csv"
    assert (pod[1].media_type, pod[1].format) == ("application/zip", "Zipped CSV")
    assert (pod[3].access_url, pod[3].download_url) == ("https://data.agency.gov/api/widgets-statistics/", None)
    graph = _read(shared_data, "dcat/catalog_with_at_graph.jsonld")[0].distributions
    assert [(d.title, d.download_url) for d in graph] == [("download.zip", "http://example2.org/files/download.zip")]
    vocab = _read(shared_data, "ckan/ckan_full_dataset_dcat_ap_vocabularies.json")[0].distributions[0]
    assert (vocab.media_type, vocab.format, vocab.download_url) == ("text/csv", "CSV", "https://example.com/data.csv")


def test_same_data_in_two_forms_reads_the_same(shared_data: Path) -> None:
    assert _read(shared_data, "ckan/catalog.json") == _read(shared_data, "ckan/catalog_datasets_list.json")
    # the CKAN fixture with top-level fields and its legacy twin with everything in extras
    assert _read(shared_data, "ckan/ckan_full_dataset_dcat_ap.json") == \
        _read(shared_data, "ckan/ckan_full_dataset_dcat_ap_legacy.json")
    # the survey as plain DCAT JSON and as a CKAN package
    dcat_json, ckan_pkg = _read(shared_data, "ckan/dataset.json")[0], _read(shared_data, "ckan/ckan_dataset.json")[0]
    for field in ("code", "name", "provider", "summary", "published", "keywords", "landing_page", "format"):
        assert getattr(dcat_json, field) == getattr(ckan_pkg, field), field


def test_croissant_is_refused_with_the_types_found(shared_data: Path) -> None:
    text = (shared_data / "dcat-examples/croissant/full_croissant_dataset.jsonld").read_text(encoding="utf-8")
    with pytest.raises(json.JSONDecodeError):  # the file has trailing commas: not even strict JSON
        json.loads(text)
    doc = json.loads(re.sub(r",(\s*[}\]])", r"\1", text))
    with pytest.raises(InvalidInput, match="no DCAT dataset") as err:
        from_dcat(doc)
    assert "https://schema.org/Dataset" in " ".join(err.value.details)


# --- round trips --------------------------------------------------------------------------------------------

def _entry(**over: Any) -> CatalogEntry:
    fields: dict[str, Any] = {
        "code": "11330100MB0001/000001", "name": "人口基础信息", "provider": "杭州市公安局",
        "summary": "全市户籍人口与流动人口的基础信息，含姓名、性别、出生日期。", "format": "DB",
        "sharing_type": "conditional", "sharing_condition": "仅限政务部门办理户籍相关事项时使用",
        "open_type": "closed", "update_cycle": "daily", "published": date(2024, 3, 15),
        "related_services": ["户口迁移登记", "https://zwfw.hz.example.gov.cn/item/330100-0001"],
        "keywords": ["人口", "户籍", "流动人口"],
        "themes": ["http://publications.europa.eu/resource/authority/data-theme/SOCI", "社会民生"],
        "landing_page": "https://data.hz.example.gov.cn/dataset/人口基础信息",
        "distributions": [
            Distribution(title="人口信息查询接口", access_url="https://api.hz.example.gov.cn/population", format="API"),
            Distribution(title="2024 年汇总", download_url="https://data.hz.example.gov.cn/files/人口2024.csv",
                         media_type="text/csv", format="CSV"),
        ],
    }
    return CatalogEntry(**(fields | over))


def _every_combination() -> list[CatalogEntry]:
    out = []
    combos = itertools.product(["unconditional", "conditional", "none"], ["open", "conditional", "closed", None],
                               ["realtime", "daily", "weekly", "monthly", "quarterly", "semiannual", "yearly",
                                "irregular", None])
    for i, (sharing, opening, cycle) in enumerate(combos):
        out.append(_entry(code=f"DS-{i:03d}", sharing_type=sharing, open_type=opening, update_cycle=cycle,
                          sharing_condition=None if sharing == "unconditional" else f"条件{i}"))
    return out


def _minimal() -> CatalogEntry:
    return CatalogEntry(code="min-1", name="最少字段", sharing_type="none")


def _awkward() -> CatalogEntry:
    return _entry(code="https://data.example.org/ds/42", keywords=["水", "交通/出行", "bus"], format=None,
                  provider=None, distributions=[Distribution(download_url="https://x.example/only.zip")])


def _through_json(doc: Any) -> Any:
    return json.loads(json.dumps(doc, ensure_ascii=False))


def test_dcat_round_trip() -> None:
    entries = [_entry(), _minimal(), _awkward(), *_every_combination()]
    doc = to_dcat(entries, catalog_title="杭州市政务数据资源目录", base_uri=BASE)
    assert from_dcat(_through_json(doc)) == entries


@pytest.mark.parametrize("entry", [_entry(), _minimal(), _awkward(), *_every_combination()],
                         ids=lambda e: e.code)
def test_ckan_round_trip(entry: CatalogEntry) -> None:
    package = to_ckan(entry)
    assert from_ckan(_through_json(package)) == [entry]
    assert from_ckan({"success": True, "result": package}) == [entry]
    assert from_ckan({"result": {"count": 1, "results": [package]}}) == [entry]


def test_ckan_package_shape() -> None:
    package = to_ckan(_entry(update_cycle="monthly", open_type="open"))
    extras = {e["key"]: e["value"] for e in package["extras"]}
    assert package["title"] == "人口基础信息"
    assert extras["frequency"] == EU_FREQ + "MONTHLY"
    assert extras["access_rights"] == EU_ACCESS + "PUBLIC"
    assert extras["identifier"] == "11330100MB0001/000001"
    assert json.loads(extras["theme"])[1] == "社会民生"
    assert [t["name"] for t in package["tags"]] == ["人口", "户籍", "流动人口"]
    assert all(isinstance(v, str) for v in extras.values())
    awkward = to_ckan(_awkward())
    assert [t["name"] for t in awkward["tags"]] == ["bus"]  # 水 is too short, 交通/出行 has a slash
    assert {e["key"] for e in awkward["extras"]} >= {"cy_keywords"}


def test_ckan_names_are_valid_and_distinct() -> None:
    assert ckan_name("DS-D01-00001") == "ds-d01-00001"
    assert ckan_name("11330100MB0001/000001").startswith("11330100mb0001-000001-")
    assert ckan_name("A/1") != ckan_name("a-1")
    assert ckan_name("城运数据").startswith("cy-")
    codes = ["DS-D01-00001", "A/1", "a-1", "城运数据", "x" * 300, "https://data.example.org/ds/42", "z"]
    names = [ckan_name(c) for c in codes]
    assert all(re.fullmatch(r"[a-z0-9_-]{2,100}", n) for n in names)
    assert len(set(names)) == len(names)


# --- reading details ----------------------------------------------------------------------------------------

COMPACT = {"@context": {"dcat": "http://www.w3.org/ns/dcat#", "dct": "http://purl.org/dc/terms/",
                        "title_map": {"@id": "dct:title", "@container": "@language"}}}


def test_language_preference_and_forms() -> None:
    doc = {**COMPACT, "@graph": [
        {"@id": "https://x.example/a", "@type": "dcat:Dataset", "dct:identifier": "a",
         "dct:title": [{"@value": "Population", "@language": "en"}, {"@value": "人口", "@language": "zh-CN"}],
         "dct:description": [{"@value": "Bevölkerung", "@language": "de"}, {"@value": "People", "@language": "en"}],
         "dcat:keyword": [{"@value": "Leute", "@language": "de"}, {"@value": "people", "@language": "en"}]},
        {"@id": "https://x.example/b", "@type": "dcat:Dataset", "title_map": {"fr": "Routes", "de": "Straßen"}},
    ]}
    a, b = from_dcat(doc)
    assert (a.name, a.summary, a.keywords) == ("人口", "People", ["people"])
    assert (b.name, b.code) == ("Routes", "https://x.example/b")  # no zh or en: the first language given
    expanded = [{"@id": "https://x.example/a", "@type": ["http://www.w3.org/ns/dcat#Dataset"],
                 "http://purl.org/dc/terms/identifier": [{"@value": "a"}],
                 "http://purl.org/dc/terms/title": [{"@value": "人口", "@language": "zh"}],
                 "http://purl.org/dc/terms/description": [{"@value": "People", "@language": "en"}],
                 "http://www.w3.org/ns/dcat#keyword": [{"@value": "people", "@language": "en"}]}]
    assert from_dcat(expanded) == [a]


def test_contexts_forward_prefixes_and_remote() -> None:
    later_prefix = {"@context": {"name": "dct:title", "Set": "dcat:Dataset", "dct": "http://purl.org/dc/terms/",
                                 "dcat": "http://www.w3.org/ns/dcat#"}, "@id": "urn:x:1", "@type": "Set", "name": "道路"}
    assert from_dcat(later_prefix)[0].name == "道路"
    remote = {"@context": "https://example.org/some-dcat-ap-context.jsonld", "@id": "https://x.example/r",
              "@type": "Dataset", "title": "远程上下文", "keyword": ["交通"]}
    assert (from_dcat(remote)[0].name, from_dcat(remote)[0].keywords) == ("远程上下文", ["交通"])
    with pytest.raises(InvalidInput, match="no DCAT dataset"):
        from_dcat({"@context": "https://schema.org/", "@type": "Dataset", "name": "schema.org, not DCAT"})


@pytest.mark.parametrize(("rights", "sharing", "opening"), [
    (EU_ACCESS + "PUBLIC", "unconditional", "open"), (EU_ACCESS + "RESTRICTED", "conditional", "conditional"),
    (EU_ACCESS + "NON_PUBLIC", "conditional", "closed"), (None, "conditional", None),
])
def test_foreign_access_rights(rights: str | None, sharing: str, opening: str | None) -> None:
    node: dict[str, Any] = {**COMPACT, "@type": "dcat:Dataset", "dct:title": "t", "dct:identifier": "t"}
    if rights:
        node["dct:accessRights"] = {"@id": rights}
    (entry,) = from_dcat(node)
    assert (entry.sharing_type, entry.open_type) == (sharing, opening)


@pytest.mark.parametrize(("frequency", "cycle"), [
    ("http://purl.org/cld/freq/quarterly", "quarterly"), (EU_FREQ + "BIENNIAL", "irregular"),
    (EU_FREQ + "UPDATE_CONT", "realtime"), (EU_FREQ + "UNKNOWN", None), ("R/P1M", "monthly"),
])
def test_foreign_frequencies(frequency: str, cycle: str | None) -> None:
    node = {**COMPACT, "@type": "dcat:Dataset", "dct:title": "t", "dct:identifier": "t",
            "dct:accrualPeriodicity": {"@id": frequency}}
    assert from_dcat(node)[0].update_cycle == cycle


def test_unknown_data_is_ignored() -> None:
    node = {**COMPACT, "@type": "dcat:Dataset", "dct:title": "t", "dct:identifier": "t", "dct:spatial": "杭州",
            "http://example.org/ns#whatever": {"@id": "urn:x"}, "unmapped": 1}
    assert from_dcat(node)[0].name == "t"
    assert from_ckan({"title": "t", "name": "t", "extras": [{"key": "odd", "value": "1"}], "custom": {}})[0].code == "t"
    numbers = from_ckan({"title": "t", "identifier": 4711, "tags": [{"name": 2024}]})[0]
    assert (numbers.code, numbers.keywords) == ("4711", ["2024"])


def test_ckan_prefers_chinese_translation() -> None:
    package = {"name": "p", "title": "Roads", "title_translated": {"en": "Roads", "zh_Hans": "道路"},
               "notes_translated": {"fr": "routes"}, "tags_translated": {"en": ["road"], "zh": ["道路", "交通"]}}
    (entry,) = from_ckan(package)
    assert (entry.name, entry.summary, entry.keywords) == ("道路", "routes", ["道路", "交通"])


# --- Chinese values and rejected records --------------------------------------------------------------------

@pytest.mark.parametrize(("field", "given", "key"), [
    ("sharing_type", "无条件共享", "unconditional"), ("sharing_type", "有条件", "conditional"),
    ("sharing_type", "不予共享", "none"), ("open_type", "无条件开放", "open"), ("open_type", "有条件开放", "conditional"),
    ("open_type", "不予开放", "closed"), ("update_cycle", "实时", "realtime"), ("update_cycle", "每日", "daily"),
    ("update_cycle", "每周", "weekly"), ("update_cycle", "每月", "monthly"), ("update_cycle", "每季度", "quarterly"),
    ("update_cycle", "每年", "yearly"), ("update_cycle", "不定期", "irregular"),
])
def test_chinese_enum_values(field: str, given: str, key: str) -> None:
    fields = {"code": "c", "name": "n", "sharing_type": "none", field: given}
    assert getattr(CatalogEntry.model_validate(fields), field) == key


def test_labels_and_cycle_days() -> None:
    entry = _entry(sharing_type="有条件共享", update_cycle="每季度")
    assert (entry.label("sharing_type"), entry.label("update_cycle"), entry.label("open_type")) == \
        ("有条件共享", "每季度", "不予开放")
    assert LABELS["sharing_type"] == "共享类型" and LABELS["update_cycle"] == "更新周期"
    assert (cycle_days("monthly"), cycle_days("每年"), cycle_days(EU_FREQ + "WEEKLY")) == (30.0, 365.0, 7.0)
    assert cycle_days("irregular") is None and cycle_days(None) is None


@pytest.mark.parametrize(("over", "field"), [
    ({"sharing_type": "部分共享"}, "sharing_type"), ({"sharing_type": None}, "sharing_type"),
    ({"update_cycle": "每两天"}, "update_cycle"), ({"name": "  "}, "name"), ({"code": "a\nb"}, "code"),
    ({"published": "2024-13-45"}, "published"),
])
def test_bad_values_rejected(over: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        _entry(**over)
    assert err.value.errors()[0]["loc"] == (field,)


def test_condition_on_unconditional_sharing_is_rejected() -> None:
    with pytest.raises(ValidationError, match="sharing_condition"):
        _entry(sharing_type="unconditional", sharing_condition="需签订协议")


def test_dcat_record_without_title_is_named() -> None:
    doc = {**COMPACT, "@type": "dcat:Catalog", "dcat:dataset": [
        {"@id": "https://x.example/ds1", "@type": "dcat:Dataset", "dct:title": "ok"},
        {"@id": "https://x.example/ds2", "@type": "dcat:Dataset", "dct:identifier": "ds2"},
        {"@id": "https://x.example/ds3", "@type": "dcat:Dataset", "dct:title": "t3", "dct:issued": "2024-02-30"},
    ]}
    with pytest.raises(InvalidInput) as err:
        from_dcat(doc)
    assert len(err.value.details) == 2
    first, second = err.value.details
    assert "dataset 1 <https://x.example/ds2>" in first and "name" in first and "dct:title" in first
    assert "dataset 2 <https://x.example/ds3>" in second and "published" in second and "dct:issued" in second


def test_ckan_record_errors_are_named() -> None:
    with pytest.raises(InvalidInput) as err:
        from_ckan([{"name": "good", "title": "好"}, {"name": "no-title", "notes": "x"}])
    assert "package 1 'no-title'" in err.value.message and "title" in err.value.message
    bad_enum = to_ckan(_entry())
    bad_enum["extras"] = [e if e["key"] != "cy_sharing_type" else {**e, "value": "部分共享"} for e in bad_enum["extras"]]
    with pytest.raises(InvalidInput, match="cy_sharing_type"):
        from_ckan(bad_enum)
    with pytest.raises(InvalidInput, match="Not found"):
        from_ckan({"success": False, "error": {"message": "Not found", "__type": "Not Found Error"}})


def test_bad_documents_and_exports_are_refused() -> None:
    with pytest.raises(InvalidInput, match="JSON object or array"):
        from_dcat("dataset.jsonld")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="entries 0 and 1"):
        to_dcat([_entry(), _entry()], catalog_title="t", base_uri=BASE)
    with pytest.raises(InvalidInput, match="entries 0 and 1"):  # a code that is another entry's dataset IRI
        to_dcat([_entry(code="a b"), _entry(code=f"{BASE}a%20b")], catalog_title="t", base_uri=BASE)
    with pytest.raises(InvalidInput, match="base_uri"):
        to_dcat([_entry()], catalog_title="t", base_uri="catalog")


# --- the JSON-LD we write -----------------------------------------------------------------------------------

def _dicts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [d for v in value for d in _dicts(v)]
    if isinstance(value, dict):
        return [value, *(d for v in value.values() for d in _dicts(v))]
    return []


def test_json_ld_structure() -> None:
    entries = [_entry(), _minimal(), _entry(code="x-2", open_type=None, sharing_type="unconditional",
                                            sharing_condition=None, update_cycle="semiannual")]
    doc = to_dcat(entries, catalog_title="杭州市政务数据资源目录", base_uri=BASE)
    ctx = doc["@context"]
    assert ctx["dcat"] == "http://www.w3.org/ns/dcat#" and ctx["dct"] == "http://purl.org/dc/terms/"
    assert all(re.match(r"https?://", iri) for iri in ctx.values())
    for node in _dicts({k: v for k, v in doc.items() if k != "@context"}):
        for key in node:
            assert key.startswith("@") or key.split(":")[0] in ctx, key
        for typ in [node["@type"]] if "@type" in node else []:
            assert typ.split(":")[0] in ctx
    datasets = [n for n in _dicts(doc) if n.get("@type") == "dcat:Dataset"]
    assert len(datasets) == 3
    assert all(isinstance(d["dct:title"], str) and d["dct:title"] for d in datasets)
    assert [d["@id"] for d in datasets] == [BASE + "11330100MB0001%2F000001", BASE + "min-1", BASE + "x-2"]
    full, minimal, public = datasets
    assert full["dct:accrualPeriodicity"] == {"@id": EU_FREQ + "DAILY"}
    assert full["dct:accessRights"] == {"@id": EU_ACCESS + "NON_PUBLIC"}  # open type closed
    assert full["dct:issued"] == {"@value": "2024-03-15", "@type": "xsd:date"}
    assert full["cy:sharingType"] == "conditional" and full["dct:publisher"]["foaf:name"] == "杭州市公安局"
    assert minimal["dct:accessRights"] == {"@id": EU_ACCESS + "NON_PUBLIC"}  # 不予共享, no open type
    assert "dct:accessRights" not in public  # shared without condition, opening unknown
    assert public["dct:accrualPeriodicity"] == {"@id": EU_FREQ + "ANNUAL_2"}
    assert doc["@type"] == "dcat:Catalog" and doc["dct:title"] == "杭州市政务数据资源目录"
