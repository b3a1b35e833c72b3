"""The shape of a pack file (指标体系文件结构), checked before any code walks it: one line per problem, never a crash.

``shape_errors`` returns every problem as ``FILE: PATH: problem — fix: …`` with PATH written the way the file
nests (``nodes[2].children[0].scoring.worst``). Only a document without shape errors reaches the tree checks in
``pack.py``, so those can rely on mappings being mappings and numbers being numbers.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StrictBool,
    StrictStr,
    ValidationError,
)

MAX_VALUES = 100_000  # far above the largest shipped pack (~2,000 values); stops alias bombs before they expand
MAX_DEPTH = 64  # nesting of YAML containers; the deepest shipped pack nests 10


def _scalar_text(value: Any) -> Any:
    # These keys are read through str() downstream, so `version: 2025` or `id: 7` stay accepted as they always were.
    if isinstance(value, (int, float, dt.date)) and not isinstance(value, bool):
        return str(value)
    return value


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("number is not finite")
    return value


Text = Annotated[StrictStr, BeforeValidator(_scalar_text)]
# Strict: an int is a number, true/false and "0.9" are not; ints too large for a float fail here too.
Number = Annotated[float, AfterValidator(_finite)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class BandDoc(_Doc):
    """One band of a banded scoring rule."""

    min: Number | None = None
    max: Number | None = None
    score: Number | None = None


class ScoringDoc(_Doc):
    """A scoring rule (计分规则); which keys each rule needs is checked with the tree."""

    rule: Text | None = None
    worst: Number | None = None
    best: Number | None = None
    target: Number | None = None
    per: Number | None = None
    points: Number | None = None
    max: Number | None = None
    bands: list[BandDoc] | None = None
    expect: StrictBool | None = None
    direction: Text | None = None


class InputDoc(_Doc):
    """How a manual input (人工填报) is entered."""

    unit: StrictStr | None = None
    min: Number | None = None
    max: Number | None = None
    description: StrictStr | None = None
    source_hint: StrictStr | None = None
    direction: Text | None = None


class NodeDoc(_Doc):
    """One node of the tree: a group, a measured leaf or a manual leaf."""

    id: Text | None = None
    name: Text | None = None
    name_en: Text | None = None
    weight: Number | None = None
    provenance: Text | None = None
    note: StrictStr | None = None
    split: Text | None = None
    children: list[NodeDoc] | None = None
    measure: StrictStr | None = None
    input: InputDoc | None = None
    scoring: ScoringDoc | None = None


class StageBandDoc(_Doc):
    """A stage band (发展阶段)."""

    name: Text | None = None
    name_en: Text | None = None
    min: Number | None = None


class StagesDoc(_Doc):
    """The stage bands and where they come from."""

    note: Text | None = None
    bands: list[StageBandDoc] | None = None


class PackDoc(_Doc):
    """A whole pack file."""

    id: Text | None = None
    version: Text | None = None
    title: Text | None = None
    title_en: Text | None = None
    standard: Text | None = None
    provenance: Text | None = None
    provenance_note: Text | None = None
    scale: Number | None = None
    no_data: Text | None = None
    stages: StagesDoc | None = None
    nodes: list[NodeDoc] | None = None


# error type → (what the value must be, how to write it)
_TYPES = {
    "dict_type": ("a mapping", "write key: value lines (or {key: value}) here"),
    "model_type": ("a mapping", "write key: value lines (or {key: value}) here"),
    "list_type": ("a list", "write a list here (lines starting with `- `, or [a, b])"),
    "string_type": ("text", "write text here; quote it if YAML reads it as something else"),
    "bool_type": ("true or false", "write true or false"),
    "float_type": ("a number", "write a plain number, e.g. 0.95 or 40 (no quotes, no %)"),
    "value_error": ("a finite number", "write a plain number, e.g. 0.95 or 40 (not .inf or .nan)"),
}
# keys whose mapping form people get wrong most: show the form itself
_FORMS = {
    "stages": "write stages: {note: …, bands: [{name: 准备期, min: 0}, …]} — the list of bands goes under bands:",
    "scoring": "write scoring: {rule: linear, worst: …, best: …} (or another rule, see docs/writing-a-pack.md §3)",
    "input": "write input: {unit: ratio, min: 0, max: 1, description: …, source_hint: …}",
    "nodes": "write each node as a mapping: {id: L1, name: …, weight: …, children: […] or measure: … or input: …}",
    "children": "write each child as a mapping: {id: L1P1, name: …, weight: …, measure: … or input: …}",
}


def shape_errors(data: Any, source: str) -> list[str]:
    """Every shape problem of a parsed pack document, each naming file, path and fix (empty when well-formed)."""
    size = _size_problem(data)
    if size:
        return [f"{source}: {size[0]}: {size[1]} — fix: {size[2]}"]
    if data is None:
        return [f"{source}: /: the file is empty — fix: start from an example in docs/writing-a-pack.md"]
    if not isinstance(data, dict):
        return [f"{source}: /: the top level is {_kind(data)} {_short(data)}, not a mapping — fix: write the pack as id:, version:, "
                "title:, nodes: … at the top level (see docs/writing-a-pack.md)"]
    try:
        PackDoc.model_validate(data)
    except ValidationError as exc:
        return [_line(source, data, err) for err in exc.errors(include_url=False)]
    return []


def _line(source: str, data: Any, err: Any) -> str:
    loc = tuple(err["loc"])
    path = format_path(loc)
    where = _node_label(data, loc)
    kind = err["type"]
    key = loc[-1] if loc else ""
    if kind == "missing":
        problem, fix = f"`{key}` is missing", f"add {key}: here"
    elif kind == "invalid_key":
        problem = f"the key {_short(err.get('input')) or 'null'} is not text"
        fix = "keys are names such as id: or weight:; quote the key if it is meant as text"
    elif kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        near = difflib.get_close_matches(str(key), known, n=1)
        problem = f"unknown key `{key}`" + (f" (did you mean `{near[0]}`?)" if near else "")
        fix = f"remove it or correct its spelling; allowed here: {', '.join(known)}"
    else:
        must, fix = _TYPES.get(kind, ("something else", "see docs/writing-a-pack.md for the form of this key"))
        named = [p for p in loc if isinstance(p, str)]
        if kind == "model_type" and named:
            fix = _FORMS.get(named[-1], fix)
        got = err.get("input")
        problem = f"must be {must}, got {_kind(got)} {_short(got)}".rstrip()
        if kind == "float_type" and type(got) is int:
            problem = f"the number {_short(got)} is too large"
    return f"{source}: {path}{where}: {problem} — fix: {fix}"


def format_path(loc: tuple[Any, ...]) -> str:
    """A pydantic location as the file nests it: ``nodes[2].children[0].scoring.worst``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "/"


def _node_label(data: Any, loc: tuple[Any, ...]) -> str:
    # Name the innermost node by its id as well, so the reader finds it by the code the pack uses.
    label, cur = "", data
    for i, part in enumerate(loc):
        try:
            cur = cur[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(part, int) and i > 0 and loc[i - 1] in ("nodes", "children") and isinstance(cur, dict):
            nid = cur.get("id")
            label = f" (node {nid})" if isinstance(nid, (str, int)) and not isinstance(nid, bool) else ""
    return label


def _known_keys(parent: tuple[Any, ...]) -> list[str]:
    names = [p for p in parent if isinstance(p, str)]
    model: type[_Doc] = PackDoc
    if names:
        last = names[-1]
        by_key: dict[str, type[_Doc]] = {"nodes": NodeDoc, "children": NodeDoc, "scoring": ScoringDoc,
                                         "input": InputDoc, "stages": StagesDoc}
        model = by_key.get(last, StageBandDoc if last == "bands" and "scoring" not in names else BandDoc)
    return list(model.model_fields)


def _size_problem(data: Any) -> tuple[str, str, str] | None:
    """Cycles (a YAML alias inside itself), absurd depth or alias bombs, found without recursion."""
    stack: list[tuple[Any, int, frozenset[int]]] = [(data, 0, frozenset())]
    count = 0
    while stack:
        value, depth, above = stack.pop()
        count += 1
        if count > MAX_VALUES:
            return "/", f"the file expands to more than {MAX_VALUES:,} values", "write each node out instead of nesting YAML aliases (*name) inside each other"
        if not isinstance(value, (dict, list)):
            continue
        if id(value) in above:
            return "/", "a YAML alias refers to a mapping or list that contains it (a cycle)", "replace the alias (*name) by a copy of what it should hold"
        if depth > MAX_DEPTH:
            return "/", f"the file nests deeper than {MAX_DEPTH} levels", "flatten the tree; a pack needs only a few levels"
        inner = above | {id(value)}
        items = list(value.keys()) + list(value.values()) if isinstance(value, dict) else value
        stack.extend((v, depth + 1, inner) for v in items)
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {bool: "true/false", int: "the number", float: "the number", str: "the text", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    if value is None:
        return ""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "…"
