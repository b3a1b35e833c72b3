"""Indicator packs (指标体系): the YAML tree, loaded and validated with errors that name file, node and fix."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import yaml

from chengyun.core.errors import NotFound, PackError
from chengyun.indicators.pack_schema import shape_errors

PROVENANCE = ("verbatim", "transcribed", "reported", "reconstruction", "practice")
RULES = ("linear", "banded", "target", "boolean", "deduction")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_TOL = 1e-6


@dataclass
class Node:
    """One node: a group with children, a measured leaf, or a manually entered leaf."""

    id: str
    name: str
    name_en: str
    weight: float
    path: str
    provenance: str
    note: str | None = None
    split: str = "points"
    children: list[Node] = field(default_factory=list)
    measure: str | None = None
    input: dict[str, Any] | None = None
    scoring: dict[str, Any] | None = None

    @property
    def kind(self) -> str:
        """group, measure or manual."""
        return "group" if self.children else ("measure" if self.measure else "manual")

    @property
    def is_deduction(self) -> bool:
        """A deduction item (倒扣分项): weight 0, negative score."""
        return bool(self.scoring and self.scoring.get("rule") == "deduction")

    def walk(self) -> list[Node]:
        """This node and its descendants, pre-order."""
        out = [self]
        for c in self.children:
            out.extend(c.walk())
        return out


@dataclass
class Stage:
    """A development stage band (发展阶段): its name and the lowest total that reaches it."""

    name: str
    name_en: str
    min: float


@dataclass
class Pack:
    """A validated indicator pack."""

    id: str
    version: str
    title: str
    title_en: str
    standard: str
    provenance_note: str
    scale: float
    no_data: str
    stages: list[Stage]
    stage_note: str
    nodes: list[Node]
    source: str
    sha256: str

    def walk(self) -> list[Node]:
        """Every node, pre-order."""
        return [n for top in self.nodes for n in top.walk()]

    def node(self, node_id: str) -> Node:
        """The node with this id, or an error that lists where to look."""
        for n in self.walk():
            if n.id == node_id:
                return n
        raise NotFound(f"pack {self.id!r} has no node {node_id!r}", fix=f"see `chengyun packs show {self.id}`")

    def stage_for(self, total: float | None) -> Stage | None:
        """The stage band the total falls in."""
        if total is None:
            return None
        hit = None
        for s in self.stages:
            if total + _TOL >= s.min:
                hit = s
        return hit


class _Errors:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, path: str, problem: str, fix: str) -> None:
        self.items.append(f"{self.source}: {path}: {problem} — fix: {fix}")


def _num(v: Any) -> TypeGuard[float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_rule(rule: Any, path: str, errs: _Errors) -> None:
    if not isinstance(rule, dict) or rule.get("rule") not in RULES:
        errs.add(path, f"scoring rule {rule!r} is not one of {', '.join(RULES)}", "write scoring: {rule: linear, worst: …, best: …} or another rule")
        return
    kind = rule["rule"]
    if rule.get("direction", "higher") not in ("higher", "lower"):
        errs.add(path, f"scoring direction {rule['direction']!r} is unknown", "use direction: higher or lower (or leave it out)")
    need = {"linear": ("worst", "best"), "target": ("target",), "deduction": ("per", "points", "max"), "banded": ("bands",), "boolean": ()}[kind]
    for key in need:
        if key not in rule:
            errs.add(path, f"{kind} rule lacks {key!r}", f"add {key}: to the scoring rule")
    if kind == "linear" and all(_num(rule.get(k)) for k in ("worst", "best")) and rule["worst"] == rule["best"]:
        errs.add(path, "linear rule has worst == best", "make worst and best differ")
    if kind == "target" and "target" in rule and (not _num(rule["target"]) or rule["target"] <= 0):
        errs.add(path, f"target {rule['target']!r} must be a positive number", "give target: a number above 0")
    if kind == "deduction":
        for key in ("per", "points", "max"):
            if key in rule and (not _num(rule[key]) or rule[key] <= 0):
                errs.add(path, f"deduction {key} {rule[key]!r} must be a positive number", f"give {key}: a number above 0")
    if kind == "banded" and "bands" in rule:
        _check_bands(rule["bands"], path, errs)


def _check_bands(bands: Any, path: str, errs: _Errors) -> None:
    if not isinstance(bands, list) or not bands:
        errs.add(path, "banded rule needs a non-empty list of bands", "write bands: [{min: 0.9, score: 1}, {min: 0.8, score: 0.6}]")
        return
    keys = {("min" in b) - ("max" in b) for b in bands if isinstance(b, dict)}
    if len(keys) != 1 or 0 in keys or len(bands) != sum(isinstance(b, dict) for b in bands):
        errs.add(path, "bands must all use `min` (higher is better) or all use `max` (lower is better)", "give each band exactly one of min or max")
        return
    key = "min" if keys == {1} else "max"
    bounds = [b.get(key) for b in bands]
    scores = [b.get("score") for b in bands]
    if not all(_num(x) for x in bounds) or not all(_num(s) and 0 <= s <= 1 for s in scores):
        errs.add(path, "every band needs a numeric bound and a score between 0 and 1", "write {min: 0.9, score: 1}")
        return
    ordered = sorted(bounds, reverse=(key == "min"))
    if bounds != ordered or len(set(bounds)) != len(bounds):
        order = "descending" if key == "min" else "ascending"
        errs.add(path, f"band bounds {bounds} are not strictly {order}", f"list bands with {key} {order}, best band first")


def _node(raw: Any, parent_path: str, errs: _Errors, seen: set[str], measures: set[str] | None, default_prov: str) -> Node | None:
    if not isinstance(raw, dict):
        errs.add(parent_path, f"node {raw!r} is not a mapping", "write each node as id:, name:, weight: …")
        return None
    nid = str(raw.get("id", ""))
    path = f"{parent_path}/{nid or '?'}"
    if not nid or not _ID_RE.match(nid):
        errs.add(path, f"node id {nid!r} is missing or has spaces/symbols", "give an id of letters, digits, '.', '_' or '-'")
    elif nid in seen:
        errs.add(path, f"duplicate node id {nid!r}", "make every id unique within the pack")
    seen.add(nid)
    raw_weight = raw.get("weight")
    weight = float(raw_weight) if _num(raw_weight) else -1.0
    if weight < 0:
        errs.add(path, f"weight {raw_weight!r} is not a number >= 0", "give weight: a number of points (or percent under split: percent)")
        weight = 0.0
    prov = raw.get("provenance", default_prov)
    if prov not in PROVENANCE:
        errs.add(path, f"provenance {prov!r} is unknown", f"use one of {', '.join(PROVENANCE)}")
    kinds = [k for k in ("children", "measure", "input") if raw.get(k) is not None]
    if len(kinds) != 1:
        errs.add(path, f"node has {kinds or 'none'} of children/measure/input", "give exactly one: children, measure or input")
    node = Node(id=nid, name=str(raw.get("name") or ""), name_en=str(raw.get("name_en") or raw.get("name") or ""),
                weight=weight, path=path, provenance=str(prov), note=raw.get("note"),
                split=str(raw.get("split", "points")), measure=raw.get("measure"), input=raw.get("input"),
                scoring=raw.get("scoring"))
    if not node.name:
        errs.add(path, "node has no name", "add name: (Chinese) and name_en:")
    if node.split not in ("points", "percent"):
        errs.add(path, f"split {node.split!r} is unknown", "use split: points or split: percent")
    if raw.get("children") is not None:
        kids = raw["children"] if isinstance(raw["children"], list) else []
        if not kids:
            errs.add(path, "children is empty or not a list", "list child nodes, or bind the node to a measure or input")
        node.children = [c for c in (_node(k, path, errs, seen, measures, str(prov)) for k in kids) if c]
        _check_split(node, errs)
    else:
        _check_leaf(node, errs, measures)
    return node


def _check_leaf(node: Node, errs: _Errors, measures: set[str] | None) -> None:
    if node.measure is not None and measures is not None and node.measure not in measures:
        close = sorted(m for m in measures if m.split(".")[0] == str(node.measure).split(".")[0])[:6]
        errs.add(node.path, f"unknown measure {node.measure!r}",
                 f"use a registered measure ({', '.join(close) or 'see `chengyun measures list`'})")
    if node.input is not None and not isinstance(node.input, dict):
        errs.add(node.path, "input must be a mapping", "write input: {unit: ratio, min: 0, max: 1, description: …}")
    elif node.input is not None:
        lo, hi = node.input.get("min"), node.input.get("max")
        if (lo is not None and not _num(lo)) or (hi is not None and not _num(hi)) or (_num(lo) and _num(hi) and float(lo) >= float(hi)):
            errs.add(node.path, f"input range [{lo}, {hi}] is not a valid range", "give numeric min < max (e.g. min: 0, max: 1)")
        if node.input.get("direction", "higher") not in ("higher", "lower"):
            errs.add(node.path, f"input direction {node.input.get('direction')!r} is unknown", "use direction: higher or lower")
    if node.scoring is None:
        errs.add(node.path, "leaf has no scoring rule", "add scoring: {rule: linear, worst: …, best: …}")
    else:
        _check_rule(node.scoring, node.path, errs)
    if node.is_deduction and node.weight != 0:
        errs.add(node.path, f"deduction item has weight {node.weight:g}", "set weight: 0 on deduction items (倒扣分项)")


def _check_split(node: Node, errs: _Errors) -> None:
    total = sum(c.weight for c in node.children if not c.is_deduction)
    expected = 100.0 if node.split == "percent" else node.weight
    if abs(total - expected) > 1e-6 * max(1.0, expected):
        unit = "percent" if node.split == "percent" else "points"
        errs.add(node.path, f"children's weights add up to {total:g}, expected {expected:g} ({unit})",
                 "change the children's weights, or set split: percent (children sum to 100) / points (children sum to this weight)")


def _stages(raw: Any, errs: _Errors, scale: float) -> tuple[list[Stage], str]:
    raw = raw or {}
    bands = raw.get("bands") or []
    out = []
    for i, b in enumerate(bands):
        if not isinstance(b, dict) or not b.get("name") or not _num(b.get("min")):
            errs.add(f"/stages/bands[{i}]", f"band {b!r} needs name and numeric min", "write {name: 成长期, name_en: Growing, min: 70}")
            continue
        out.append(Stage(str(b["name"]), str(b.get("name_en") or b["name"]), float(b["min"])))
    mins = [s.min for s in out]
    if out and (mins != sorted(mins) or len(set(mins)) != len(mins) or mins[0] != 0 or mins[-1] > scale):
        errs.add("/stages/bands", f"stage minimums {mins} must rise strictly from 0 up to at most the scale {scale:g}",
                 "list bands from the lowest (min: 0) to the highest")
    return out, str(raw.get("note") or "")


def parse_pack(data: Any, source: str, measures: set[str] | None = None, text: str = "") -> Pack:
    """Validate a parsed pack document; raise PackError listing every problem with file and node path."""
    shape = shape_errors(data, source)
    if shape:
        raise PackError(f"{source}: {len(shape)} problem(s) in the pack's structure", details=shape,
                        fix="correct each listed key (see docs/writing-a-pack.md) and run `chengyun packs validate FILE` again")
    errs = _Errors(source)
    for key in ("id", "version", "title", "nodes"):
        if not data.get(key):
            errs.add(f"/{key}", f"{key} is missing", f"add {key}: at the top of the file")
    scale = data.get("scale", 100)
    if not _num(scale) or scale <= 0:
        errs.add("/scale", f"scale {scale!r} is not a positive number", "write scale: 100")
        scale = 100
    no_data = data.get("no_data", "zero")
    if no_data not in ("zero", "reweight"):
        errs.add("/no_data", f"no_data {no_data!r} is unknown", "use no_data: zero or no_data: reweight")
    seen: set[str] = set()
    default_prov = str(data.get("provenance", "reconstruction"))
    nodes = [n for n in (_node(r, "", errs, seen, measures, default_prov) for r in (data.get("nodes") or [])) if n]
    top = sum(n.weight for n in nodes if not n.is_deduction)
    if nodes and abs(top - scale) > 1e-6 * scale:
        errs.add("/nodes", f"top-level weights add up to {top:g}, expected the scale {scale:g}", "change the first-level weights so they sum to the scale")
    stages, note = _stages(data.get("stages"), errs, float(scale))
    if errs.items:
        raise PackError(f"{source}: {len(errs.items)} problem(s) in the pack", details=errs.items,
                        fix="correct each listed node and run `chengyun packs validate FILE` again")
    return Pack(id=str(data["id"]), version=str(data["version"]), title=str(data["title"]),
                title_en=str(data.get("title_en") or data["title"]), standard=str(data.get("standard") or ""),
                provenance_note=str(data.get("provenance_note") or ""), scale=float(scale), no_data=str(no_data),
                stages=stages, stage_note=note, nodes=nodes, source=source,
                sha256=hashlib.sha256(text.encode()).hexdigest())


def load_pack_file(path: Path, measures: set[str] | None = None) -> Pack:
    """Read and validate one pack file; any unreadable or malformed file is a PackError, never a crash."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PackError(f"{path} cannot be read: {exc.strerror or exc}", fix="check the path and its permissions") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PackError(f"{path} is not UTF-8 text", details=[f"{path}: byte {exc.start}: {raw[exc.start:exc.start + 4]!r} is not UTF-8"],
                        fix="save the file as UTF-8 (GBK and other encodings are not read)") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PackError(f"{path} is not valid YAML", details=[f"{path}: {exc}"], fix="fix the YAML syntax at the line shown") from exc
    except RecursionError as exc:
        raise PackError(f"{path} is not valid YAML", details=[f"{path}: the text nests lists or mappings too deeply to read"],
                        fix="flatten the nesting; a pack needs only a few levels") from exc
    except (ValueError, OverflowError) as exc:
        # PyYAML builds dates and numbers with Python's constructors (2025-02-30 raises ValueError) and composes
        # nested collections recursively; both are problems of the text, not of the program.
        raise PackError(f"{path} is not valid YAML", details=[f"{path}: {type(exc).__name__}: {exc}"],
                        fix="fix the value or nesting the message names (quote dates meant as text)") from exc
    return parse_pack(data, str(path), measures, text)
