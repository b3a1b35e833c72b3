"""Mutated shipped packs: validation answers with a PackError report or a pack, never another exception or a traceback."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.main import get_command

from chengyun.analytics.registry import get_registry
from chengyun.cli.main import app
from chengyun.core.errors import PackError
from chengyun.indicators.pack import load_pack_file

PACKS = sorted((Path(__file__).resolve().parents[2] / "src" / "chengyun" / "indicators" / "packs").glob("*.yaml"))
TEXTS = {p.name: p.read_text(encoding="utf-8") for p in PACKS}
DOCS = {name: yaml.safe_load(text) for name, text in TEXTS.items()}
# libyaml only writes the mutated files, to keep the run short; the code under test reads with PyYAML's own loader.
DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

# A value of another type for any key: list, mapping, text, number, null, true/false.
OTHER = st.one_of(
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(["id", "rule", "min", "x"]), st.integers(0, 2), st.none()),
                    st.integers(-3, 3), max_size=2),
    st.text(max_size=8),
    st.integers(-(10**400), 10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
)


@functools.cache
def cli() -> Any:
    """The real app as the click command typer runs; typer's CliRunner rebuilds it on every call (~0.3 s)."""
    return get_command(app)


@functools.cache
def measures() -> frozenset[str]:
    """The registered measure names (the shipped packs are valid against them)."""
    return frozenset(get_registry().measures)


def spots(doc: Any) -> list[tuple[tuple, Any]]:
    """Every (key path, value) in the document, containers and leaves, without recursion."""
    out: list[tuple[tuple, Any]] = []
    stack: list[tuple[tuple, Any]] = [((), doc)]
    while stack:
        path, value = stack.pop()
        if path:
            out.append((path, value))
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend(((*path, k), v) for k, v in items)
    return out


def at(doc: Any, path: tuple) -> Any:
    """The value at a key path."""
    for key in path:
        doc = doc[key]
    return doc


def mangle(value: Any, how: int) -> Any:
    """A number made wrong: negative, huge, zero, too large for a float, quoted, or not a number."""
    return [-value - 1, 1e308, 0, 10**400, str(value), float("nan"), float("-inf")][how]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, str]:
    """A shipped pack with one to three random mutations, as YAML text (or its text cut short)."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    if draw(st.integers(0, 9)) == 0:
        text = TEXTS[name]
        return name, text[: draw(st.integers(0, len(text) - 1))]
    doc = copy.deepcopy(DOCS[name])
    for _ in range(draw(st.integers(1, 3))):
        places = spots(doc)
        if not places:
            break
        path = draw(st.sampled_from(places))[0]
        parent, key, kind = at(doc, path[:-1]), path[-1], draw(st.sampled_from(["delete", "retype", "dup", "number"]))
        lists = [p for p, v in places if p[-1] in ("nodes", "children") and isinstance(v, list) and v]
        numbers = [p for p, v in places if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if kind == "delete":
            del parent[key]
        elif kind == "retype":
            parent[key] = draw(OTHER)
        elif kind == "dup" and lists:
            nodes = at(doc, draw(st.sampled_from(lists)))
            i = draw(st.integers(0, len(nodes) - 1))
            if draw(st.booleans()):
                nodes.insert(i, copy.deepcopy(nodes[i]))
            else:
                nodes.pop(i)
        elif kind == "number" and numbers:
            spot = draw(st.sampled_from(numbers))
            at(doc, spot[:-1])[spot[-1]] = mangle(at(doc, spot), draw(st.integers(0, 6)))
    return name, yaml.dump(doc, Dumper=DUMPER, allow_unicode=True, sort_keys=False)


def test_shipped_packs_are_valid() -> None:
    """The fuzz starts from valid packs, so every failure below comes from the mutation."""
    for path in PACKS:
        assert load_pack_file(path, set(measures())).sha256


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_mutated_packs_never_crash(case: tuple[str, str], tmp_path_factory: Any) -> None:
    name, text = case
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_text(text, encoding="utf-8")
    try:
        load_pack_file(path, set(measures()))
        valid = True
    except PackError as exc:
        valid = False
        assert all(d.startswith(f"{path}: ") for d in exc.details), exc.details
    res = CliRunner().invoke(cli(), ["packs", "validate", str(path)], env={"COLUMNS": "10000"})
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output
    assert res.exit_code == int(not valid), res.output
