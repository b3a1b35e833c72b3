"""/api/v1/packs: the installed packs and a pack's tree."""

from __future__ import annotations

from fastapi.testclient import TestClient

from chengyun.indicators.catalog import available_packs

from .conftest import PACK


def test_list_packs_matches_the_catalogue(client: TestClient) -> None:
    packs = client.get("/api/v1/packs").json()
    assert {p["id"] for p in packs} == set(available_packs())
    mine = next(p for p in packs if p["id"] == PACK)
    assert mine == {
        "id": PACK,
        "version": "1.0",
        "title": "接口测试指标",
        "title_en": "API test indicators",
        "standard": "test only",
        "scale": 100.0,
        "no_data": "zero",
        "nodes": 7,
        "leaves": 5,
    }


def test_every_builtin_pack_has_a_consistent_tree(client: TestClient) -> None:
    for pack in available_packs().values():
        tree = client.get(f"/api/v1/packs/{pack.id}").json()
        top = [n for n in tree["tree"] if (n["scoring"] or {}).get("rule") != "deduction"]
        assert sum(n["weight"] for n in top) == pack.scale, pack.id
        assert [s["min"] for s in tree["stages"]][:1] in ([], [0.0]), pack.id


def test_pack_tree(client: TestClient) -> None:
    tree = client.get(f"/api/v1/packs/{PACK}").json()
    assert tree["provenance_note"].startswith("Written for the API tests")
    assert [(s["name"], s["min"]) for s in tree["stages"]] == [
        ("准备期", 0),
        ("起步期", 40),
        ("成长期", 60),
        ("成熟期", 80),
    ]
    assert [n["id"] for n in tree["tree"]] == ["C1", "M1", "D1"]
    c1 = tree["tree"][0]
    assert c1["kind"] == "group" and [c["id"] for c in c1["children"]] == ["C1-1", "C1-2", "C1-3"]
    leaf = c1["children"][0]
    assert leaf["kind"] == "measure" and leaf["measure"] == "cases.ontime_closure_rate"
    assert leaf["scoring"] == {"rule": "linear", "worst": 0.5, "best": 1.0} and leaf["children"] == []
    manual = tree["tree"][1]["children"][0]
    assert manual["kind"] == "manual" and manual["input"]["source_hint"] == "统计局"
    assert tree["tree"][2]["scoring"]["rule"] == "deduction" and tree["tree"][2]["weight"] == 0


def test_unknown_pack_lists_the_known_ones(client: TestClient) -> None:
    r = client.get("/api/v1/packs/nope")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not-found" and PACK in r.json()["error"]["fix"]
