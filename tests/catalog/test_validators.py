"""Identifier validators: published samples, one test per reason, and Python/Ibis agreement on DuckDB and Spark."""

from __future__ import annotations

import random
import shutil
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import ibis
import pytest

from chengyun.catalog import validators as v
from tests.analytics.test_measures import _spark_ok
from tests.conftest import need

TODAY = date(2026, 11, 26)
ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


# An independent tiny implementation: weights derived from their definitions, not copied from the module.
def id_check(body17: str) -> str:
    """GB 11643 / ISO 7064 MOD 11-2 check character computed from 2**(17-i) mod 11."""
    total = sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate(body17))
    return "10X98765432"[total % 11]


def credit_check(body17: str) -> str:
    """GB 32100 check character computed from 3**i mod 31."""
    total = sum(ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body17))
    return ALPHABET[(31 - total % 31) % 31]


def test_independent_implementation_matches_hand_computation() -> None:
    # 11010519491231002X: 1·7+1·9+0·10+1·5+0·8+5·4+1·2+9·1+4·6+9·3+1·7+2·9+3·10+1·5+0·8+0·4+2·2 = 167;
    # 167 mod 11 = 2 → "X"
    assert sum(int(c) * pow(2, 17 - i, 11) for i, c in enumerate("11010519491231002")) == 167
    assert id_check("11010519491231002") == "X"
    assert [pow(3, i, 31) for i in range(17)] == list(v.CREDIT_WEIGHTS)
    assert [pow(2, 17 - i, 11) for i in range(17)] == list(v.RESIDENT_WEIGHTS)


@pytest.mark.parametrize("sample", ["11010519491231002X"])
def test_published_resident_id_sample_is_valid(sample: str) -> None:
    assert id_check(sample[:17]) == sample[17]
    assert v.check_resident_id(sample) is None


@pytest.mark.parametrize("sample", ["91350100M000100Y43", "91110000600037341L"])
def test_published_credit_code_samples_are_valid(sample: str) -> None:
    assert credit_check(sample[:17]) == sample[17]
    assert v.check_credit_code(sample) is None


RESIDENT_REASONS = [
    ("110105491231002", "15-digit legacy number"),
    ("11010519491231002", "must be 18 characters, got 17"),
    (" 11010519491231002X", "must be 18 characters, got 19"),
    ("1101051949123100A2", "characters 1-17 must be digits 0-9"),
    ("11010519491231002x", "check character must be uppercase X"),
    ("11010519491231002Y", "check character must be 0-9 or X"),
    ("99010519491231002" + id_check("99010519491231002"), "region 99 unknown"),
    ("11010519990230002" + id_check("11010519990230002"), "birth date 19990230 is not a date"),
    (
        "11010518991231002" + id_check("11010518991231002"),
        "birth date 18991231 is outside 1900-01-01..2026-11-26",
    ),
    (
        "11010520261127002" + id_check("11010520261127002"),
        "birth date 20261127 is outside 1900-01-01..2026-11-26",
    ),
    ("110105194912310021", "check digit should be X"),
]


@pytest.mark.parametrize(("value", "reason"), RESIDENT_REASONS)
def test_resident_id_reasons(value: str, reason: str) -> None:
    assert v.check_resident_id(value, today=TODAY) == reason


def test_resident_id_leap_days_and_bounds() -> None:
    for ymd, ok in [
        ("20000229", True),
        ("19000229", False),
        ("20240229", True),
        ("19000101", True),
        ("20261126", True),
    ]:
        body = "110101" + ymd + "123"
        assert (v.check_resident_id(body + id_check(body), today=TODAY) is None) is ok, ymd


def _credit(body17: str) -> str:
    return body17 + credit_check(body17)


CREDIT_REASONS = [
    ("91350100M000100Y4", "must be 18 characters, got 17"),
    ("91350100M000I00Y43", "character 'I' at position 13 is not allowed (0-9, A-Z without I, O, Z, S, V)"),
    ("91350100m000100Y43", "character 'm' at position 9 is not allowed (0-9, A-Z without I, O, Z, S, V)"),
    ("9135010０M000100Y43", "character '０' at position 8 is not allowed (0-9, A-Z without I, O, Z, S, V)"),
    (_credit("B1350100M000100Y4"), "registration authority B unknown"),
    (_credit("94350100M000100Y4"), "organisation type 4 not allowed for registration authority 9"),
    (_credit("9135A100M000100Y4"), "registration region 35A100 must be 6 digits"),
    ("91350100M000100Y44", "check character should be 3"),
]


@pytest.mark.parametrize(("value", "reason"), CREDIT_REASONS)
def test_credit_code_reasons(value: str, reason: str) -> None:
    assert v.check_credit_code(value) == reason


@pytest.mark.parametrize(
    "value",
    [
        "13800138000",
        "+86 138 0013 8000",
        "86-138-0013-8000",
        "+86-19912345678",
        "8613800138000",
        "138 0013 8000",
    ],
)
def test_accepted_mobile_forms(value: str) -> None:
    assert v.check_mobile(value) is None


MOBILE_REASONS = [
    ("0086 13800138000", "must be 11 digits after removing +86, got 15"),
    ("(+86)13800138000", "only digits 0-9, spaces, hyphens and a leading +86 are allowed"),
    ("13800138000\t", "only digits 0-9, spaces, hyphens and a leading +86 are allowed"),
    ("１3800138000", "only digits 0-9, spaces, hyphens and a leading +86 are allowed"),
    ("1380013800", "must be 11 digits after removing +86, got 10"),
    ("+86 1380013800012", "must be 11 digits after removing +86, got 13"),
    ("12800138000", "must start with 1 and a second digit 3-9"),
    ("23800138000", "must start with 1 and a second digit 3-9"),
]


@pytest.mark.parametrize(("value", "reason"), MOBILE_REASONS)
def test_mobile_reasons(value: str, reason: str) -> None:
    assert v.check_mobile(value) == reason


def test_registry_entries() -> None:
    assert set(v.VALIDATORS) == {"cn-resident-id", "cn-credit-code", "cn-mobile"}
    for kind, entry in v.VALIDATORS.items():
        assert entry.kind == kind
        assert entry.dimension in v.DIMENSIONS
        assert entry.name and entry.name_zh
    assert v.VALIDATORS["cn-mobile"].check("13800138000") is None
    assert v.VALIDATORS["cn-resident-id"].check("11010519491231002X") is None


# ---- random candidates: valid ones and mutations of them ------------------------------------------------------

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _mutate(rng: random.Random, s: str, alphabet: str) -> str:
    """One random corruption of ``s``."""
    i = rng.randrange(len(s))
    kind = rng.randrange(8)
    if kind == 0:
        return s[:i] + rng.choice(alphabet.replace(s[i], "")) + s[i + 1 :]
    if kind == 1 and i + 1 < len(s):
        return s[:i] + s[i + 1] + s[i] + s[i + 2 :]
    if kind == 2:
        return s[:i] + s[i + 1 :]
    if kind == 3:
        return s + rng.choice(alphabet)
    if kind == 4:
        return s[:i] + s[i].translate(FULL_WIDTH) + s[i + 1 :]
    if kind == 5:
        return rng.choice([" ", "\n", "\t", "\u3000"]).join(["", s] if rng.random() < 0.5 else [s, ""])
    if kind == 6:
        return s.lower()
    return s[:i] + rng.choice("IOZSVxi") + s[i + 1 :]


def _resident_candidates(rng: random.Random) -> Iterator[str]:
    provinces = sorted(v.PROVINCES)
    for _ in range(5000):
        born = date(1900, 1, 1) + timedelta(days=rng.randrange((TODAY - date(1900, 1, 1)).days + 2))
        ymd = born.strftime("%Y%m%d")
        r = rng.random()
        if r < 0.1:  # arbitrary eight digits: bad months and days, 0229 in any year
            ymd = f"{rng.choice([1899, 1900, 1996, 2000, 2023, 2100])}{rng.randrange(14):02d}{rng.randrange(33):02d}"
        region = rng.choice(provinces) if rng.random() < 0.9 else f"{rng.randrange(100):02d}"
        body = region + f"{rng.randrange(10**4):04d}" + ymd + f"{rng.randrange(1000):03d}"
        s = body + id_check(body)
        if rng.random() < 0.05 and s.endswith("X"):
            yield s.lower()
        elif rng.random() < 0.02:
            yield s[:6] + s[8:17]  # 15-digit legacy form
        else:
            yield s if rng.random() < 0.5 else _mutate(rng, s, "0123456789X")


def _credit_candidates(rng: random.Random) -> Iterator[str]:
    heads = [a + t for a, types in v.CREDIT_TYPES.items() for t in types]
    for _ in range(5000):
        head = rng.choice(heads) if rng.random() < 0.85 else rng.choice(ALPHABET) + rng.choice(ALPHABET)
        region = f"{rng.randrange(10**6):06d}"
        if rng.random() < 0.05:
            region = region[:3] + rng.choice(ALPHABET) + region[4:]
        body = head + region + "".join(rng.choice(ALPHABET) for _ in range(9))
        s = body + credit_check(body)
        yield s if rng.random() < 0.5 else _mutate(rng, s, ALPHABET)


def _mobile_candidates(rng: random.Random) -> Iterator[str]:
    prefixes = ["", "", "+86", "86", "+86 ", "86-", "0086", "+87", "+ 86"]
    for _ in range(5000):
        n = "1" + rng.choice("0123456789") + "".join(rng.choice("0123456789") for _ in range(9))
        if rng.random() < 0.3:
            n = f"{n[:3]}{rng.choice(' -')}{n[3:7]}{rng.choice(' -')}{n[7:]}"
        s = rng.choice(prefixes) + n
        yield s if rng.random() < 0.6 else _mutate(rng, s, "0123456789 -+")


CASES: dict[str, tuple[Callable[[random.Random], Iterator[str]], Callable[[str], str | None], Callable]] = {
    "cn-resident-id": (
        _resident_candidates,
        lambda s: v.check_resident_id(s, today=TODAY),
        lambda c: v.resident_id_valid(c, today=TODAY),
    ),
    "cn-credit-code": (_credit_candidates, v.check_credit_code, v.credit_code_valid),
    "cn-mobile": (_mobile_candidates, v.check_mobile, v.mobile_valid),
}


def _candidates(kind: str) -> list[str]:
    return list(dict.fromkeys(CASES[kind][0](random.Random(f"{kind}-36344"))))


@pytest.mark.parametrize("kind", list(CASES))
def test_candidates_cover_valid_and_invalid(kind: str) -> None:
    verdicts = [CASES[kind][1](s) is None for s in _candidates(kind)]
    assert len(verdicts) > 4000
    assert 0.2 < sum(verdicts) / len(verdicts) < 0.8, "the generator should give a mix of valid and invalid"


def _compare(con: ibis.BaseBackend, kind: str) -> None:
    values = _candidates(kind)
    check, build = CASES[kind][1], CASES[kind][2]
    t = ibis.memtable(
        {"i": list(range(len(values) + 1)), "s": [*values, None]}, schema={"i": "int64", "s": "string"}
    )
    got = con.execute(t.mutate(ok=build(t.s)).order_by("i"))
    assert len(got) == len(values) + 1
    assert got["ok"].iloc[-1] is None or got["ok"].isna().iloc[-1], "null input must give null"
    wrong = [
        (s, bool(ok), check(s))
        for s, ok in zip(values, got["ok"].iloc[:-1], strict=True)
        if bool(ok) != (check(s) is None)
    ]
    assert not wrong, f"{len(wrong)} disagreements, e.g. {wrong[:5]}"


@pytest.mark.parametrize("kind", list(CASES))
def test_ibis_agrees_with_python_on_duckdb(kind: str) -> None:
    _compare(ibis.duckdb.connect(), kind)


@pytest.fixture(scope="module")
def spark_con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ibis.BaseBackend]:
    need(_spark_ok(), "pyspark or java is missing (pip install '.[spark]', Java 17)")
    from chengyun.analytics.engine import connect
    from chengyun.core.settings import Settings

    workspace: Path = tmp_path_factory.mktemp("validators")
    eng = connect(Settings(workspace=workspace), "spark")
    yield eng.con
    shutil.rmtree(workspace, ignore_errors=True)


@pytest.mark.spark  # about 15 s with session start-up, so not marked slow
@pytest.mark.parametrize("kind", list(CASES))
def test_ibis_agrees_with_python_on_spark(spark_con: ibis.BaseBackend, kind: str) -> None:
    _compare(spark_con, kind)
