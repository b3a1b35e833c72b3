"""Every pack-validation error names the file, the node path and the fix."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from chengyun.core.errors import PackError
from chengyun.indicators.pack import load_pack_file, parse_pack

GOOD = {
    "id": "p", "version": "1", "title": "P", "scale": 100,
    "stages": {"bands": [{"name": "准备期", "min": 0}, {"name": "成熟期", "min": 85}]},
    "nodes": [
        {"id": "L1", "name": "一", "weight": 60, "children": [
            {"id": "L1P1", "name": "一一", "weight": 60, "measure": "cases.count", "scoring": {"rule": "linear", "worst": 0, "best": 1}}]},
        {"id": "L2", "name": "二", "weight": 40, "input": {"min": 0, "max": 1}, "scoring": {"rule": "target", "target": 1}},
    ],
}
MEASURES = {"cases.count", "cases.response_rate"}


def errors_of(doc: dict) -> list[str]:
    with pytest.raises(PackError) as exc:
        parse_pack(doc, "packs/p.yaml", MEASURES)
    assert all(d.startswith("packs/p.yaml: ") and " — fix: " in d for d in exc.value.details)
    return exc.value.details


def mutate(path: list, value: object) -> dict:
    doc = copy.deepcopy(GOOD)
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return doc


def test_good_pack_loads() -> None:
    pack = parse_pack(GOOD, "p.yaml", MEASURES)
    assert [n.id for n in pack.walk()] == ["L1", "L1P1", "L2"]


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["nodes", 0, "children", 0, "weight"], 50, "/L1: children's weights add up to 50, expected 60"),
        (["nodes", 1, "weight"], 30, "/nodes: top-level weights add up to 90, expected the scale 100"),
        (["nodes", 0, "children", 0, "measure"], "cases.nope", "/L1/L1P1: unknown measure 'cases.nope'"),
        (["nodes", 1, "id"], "L1", "/L1: duplicate node id 'L1'"),
        (["nodes", 1, "scoring"], {"rule": "banded", "bands": [{"min": 0.5, "score": 0.5}, {"min": 0.9, "score": 1}]},
         "/L2: band bounds [0.5, 0.9] are not strictly descending"),
        (["nodes", 1, "scoring"], {"rule": "banded", "bands": [{"min": 0.9, "score": 1}, {"max": 0.5, "score": 0}]},
         "bands must all use `min`"),
        (["nodes", 1, "scoring"], {"rule": "banded", "bands": [{"min": 0.9, "score": 3}]}, "score between 0 and 1"),
        (["nodes", 1, "scoring"], {"rule": "linear", "worst": 1, "best": 1}, "worst == best"),
        (["nodes", 1, "scoring"], {"rule": "curve"}, "is not one of linear"),
        (["nodes", 1, "scoring"], {"rule": "linear", "worst": 0}, "lacks 'best'"),
        (["nodes", 1, "scoring"], None, "leaf has no scoring rule"),
        (["nodes", 1, "provenance"], "rumour", "provenance 'rumour' is unknown"),
        (["nodes", 1, "weight"], -40, "weight -40 is not a number >= 0"),
        (["stages", "bands"], [{"name": "a", "min": 0}, {"name": "b", "min": 120}], "must rise strictly from 0"),
        (["no_data"], "guess", "no_data 'guess' is unknown"),
        (["nodes", 0, "split"], "thirds", "split 'thirds' is unknown"),
    ],
)
def test_each_error(path: list, value: object, expected: str) -> None:
    details = errors_of(mutate(path, value))
    assert any(expected in d for d in details), details


def test_deduction_with_weight_is_an_error() -> None:
    doc = copy.deepcopy(GOOD)
    doc["nodes"].append({"id": "S", "name": "安全", "weight": 5, "measure": "cases.count",
                         "scoring": {"rule": "deduction", "per": 1, "points": 1, "max": 5}})
    assert any("/S: deduction item has weight 5" in d for d in errors_of(doc))


def test_node_with_two_bindings() -> None:
    doc = mutate(["nodes", 1, "measure"], "cases.count")
    assert any("/L2: node has ['measure', 'input']" in d for d in errors_of(doc))


def test_missing_top_keys_and_every_error_listed() -> None:
    doc = copy.deepcopy(GOOD)
    del doc["id"]
    doc["nodes"][1]["weight"] = 10
    details = errors_of(doc)
    assert any("/id: id is missing" in d for d in details)
    assert any("top-level weights add up to 70" in d for d in details)


def test_yaml_syntax_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nnodes: [\n", encoding="utf-8")
    with pytest.raises(PackError, match="not valid YAML"):
        load_pack_file(bad)


def test_validate_command_exit_code(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from chengyun.cli.main import app

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(mutate(["nodes", 1, "weight"], 30), allow_unicode=True), encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(GOOD, allow_unicode=True), encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["packs", "validate", str(bad)])
    assert res.exit_code == 1
    assert f"{bad}: /nodes: top-level weights add up to 90" in res.output.replace("\n", "")
    assert runner.invoke(app, ["packs", "validate", str(good)]).exit_code == 0
