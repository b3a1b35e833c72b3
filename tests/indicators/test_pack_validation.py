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
        (["nodes", 1, "scoring", "direction"], "down", "/L2: scoring direction 'down' is unknown"),
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


# ---- the structure is checked before the tree: wrong types, unknown keys and broken files are listed, never raised ----

PACKS = Path(__file__).resolve().parents[2] / "src" / "chengyun" / "indicators" / "packs"


def validate_cli(path: Path) -> tuple[int, str]:
    """Run `chengyun packs validate` on the real app, wide enough that rich wraps no line."""
    from typer.testing import CliRunner

    from chengyun.cli.main import app

    res = CliRunner().invoke(app, ["packs", "validate", str(path)], env={"COLUMNS": "10000"})
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    return res.exit_code, res.output


def test_stages_as_a_list_names_the_key(tmp_path: Path) -> None:
    doc = yaml.safe_load((PACKS / "cn-hotline-12345.yaml").read_text(encoding="utf-8"))
    doc["stages"] = doc["stages"]["bands"]  # the list of bands written directly under stages:
    bad = tmp_path / "hotline.yaml"
    bad.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    with pytest.raises(PackError) as exc:
        load_pack_file(bad)
    assert len(exc.value.details) == 1
    assert exc.value.details[0].startswith(f"{bad}: stages: must be a mapping, got a list ")
    assert "the list of bands goes under bands:" in exc.value.details[0]
    code, out = validate_cli(bad)
    assert code == 1 and f"{bad}: stages: must be a mapping" in out


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["stages"], [{"name": "准备期", "min": 0}], "stages: must be a mapping, got a list"),
        (["nodes", 0, "children", 0, "scoring", "worst"], "0",
         "nodes[0].children[0].scoring.worst (node L1P1): must be a number, got the text '0'"),
        (["nodes", 1, "input"], [0, 1], "nodes[1].input (node L2): must be a mapping, got a list [0, 1]"),
        (["nodes", 0, "children"], {"id": "L1P1"}, "nodes[0].children (node L1): must be a list, got a mapping"),
        (["nodes", 0, "children", 0, "wieght"], 60,
         "nodes[0].children[0].wieght (node L1P1): unknown key `wieght` (did you mean `weight`?)"),
        (["stages", "bands", 1, "min"], True, "stages.bands[1].min: must be a number, got true/false True"),
        (["nodes", 1, "scoring", "expect"], "yes", "nodes[1].scoring.expect (node L2): must be true or false"),
        (["nodes", 1], "L2", "nodes[1]: must be a mapping, got the text 'L2'"),
        (["nodes", 1, "weight"], float("nan"), "nodes[1].weight (node L2): must be a finite number, got the number nan"),
        (["nodes", 1, "weight"], 10**400, "nodes[1].weight (node L2): the number 1000"),
        (["nodes", 0, "children", 0, "measure"], ["cases.count"],
         "nodes[0].children[0].measure (node L1P1): must be text, got a list"),
        (["nodes", 1, "scoring", "bands"], [{"min": 0.9, "score": "1"}],
         "nodes[1].scoring.bands[0].score (node L2): must be a number"),
        (["nodes"], {"L1": {}}, "nodes: must be a list, got a mapping"),
        (["nodes", 1, 7], "x", "nodes[1][7] (node L2): the key 7 is not text"),
    ],
    ids=lambda v: ".".join(map(str, v)) if isinstance(v, list) else "",
)
def test_each_shape_error(path: list, value: object, expected: str) -> None:
    details = errors_of(mutate(path, value))
    assert any(d.startswith(f"packs/p.yaml: {expected}") for d in details), details


def test_every_shape_error_is_listed() -> None:
    doc = mutate(["stages"], [])
    doc["nodes"][0]["children"][0]["scoring"] = "linear 0..1"
    doc["nodes"][1]["weight"] = "40%"
    doc["colour"] = "red"
    with pytest.raises(PackError) as exc:
        parse_pack(doc, "packs/p.yaml", MEASURES)
    assert exc.value.message == "packs/p.yaml: 4 problem(s) in the pack's structure"
    paths = sorted(d.split(": ")[1] for d in exc.value.details)
    assert paths == ["colour", "nodes[0].children[0].scoring (node L1P1)", "nodes[1].weight (node L2)", "stages"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", ": /: the file is empty"),
        (b"- id: x\n- id: y\n", ": /: the top level is a list [{'id': 'x'}, {'id': 'y'}], not a mapping"),
        (b"42\n", ": /: the top level is the number 42, not a mapping"),
        ("id: 城运\ntitle: 测试\n".encode("gbk"), " is not UTF-8 text"),
        (b"id: x\nversion: 2025-02-30\n", ": ValueError: day is out of range for month"),
        (b"id: x\nnodes: &n [{id: a, children: *n}]\n", "a YAML alias refers to a mapping or list that contains it"),
        (b"a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
         b"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e]\n",
         "the file expands to more than 100,000 values"),
        (b"nodes: " + b"[" * 3000 + b"]" * 3000 + b"\n", "nests lists or mappings too deeply"),
        (b"nodes: " + b"[" * 70 + b"]" * 70 + b"\n", "the file nests deeper than 64 levels"),
        (b"id: x\x00\n", "unacceptable character #x0000"),
        (b"id: x\nnodes: [\n", "is not valid YAML"),
    ],
    ids=["empty", "list", "scalar", "gbk", "bad-date", "alias-cycle", "alias-bomb", "too-deep-for-yaml", "too-deep",
         "nul", "syntax"],
)
def test_broken_files_are_reported_not_raised(tmp_path: Path, raw: bytes, expected: str) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_bytes(raw)
    with pytest.raises(PackError) as exc:
        load_pack_file(bad, MEASURES)
    assert expected in str(exc.value)
    code, out = validate_cli(bad)
    assert code == 1 and expected in out


def test_installed_packs_report_every_broken_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken third-party pack stops the catalog (evaluate, the API) with the same lines `packs validate` prints."""
    from chengyun.analytics import registry as registry_mod
    from chengyun.analytics.registry import Registry
    from chengyun.indicators import catalog

    (tmp_path / "a.yaml").write_text(yaml.safe_dump(mutate(["stages"], [{"name": "x", "min": 0}])), encoding="utf-8")
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(mutate(["nodes", 1, "weight"], 30)), encoding="utf-8")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(mutate(["id"], "c")), encoding="utf-8")
    real = registry_mod.get_registry()
    monkeypatch.setattr(registry_mod, "_REGISTRY", Registry(measures=dict(real.measures), pack_dirs=[tmp_path]))
    monkeypatch.setattr(catalog, "_CACHE", None)
    with pytest.raises(PackError) as exc:
        catalog.get_pack("c")
    assert exc.value.message == f"2 installed pack file(s) fail validation: {tmp_path / 'a.yaml'}, {tmp_path / 'b.yaml'}"
    assert exc.value.details[0].startswith(f"{tmp_path / 'a.yaml'}: stages: must be a mapping")
    assert any(d.startswith(f"{tmp_path / 'b.yaml'}: /nodes: top-level weights add up to 90") for d in exc.value.details)
