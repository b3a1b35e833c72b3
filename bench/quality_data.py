"""The data of the quality benchmark (数据质量基准数据): a synthetic enterprise registry (企业登记) as Parquet.

Every row is an enterprise with its 统一社会信用代码, its legal representative's 身份证号, a contact mobile number, a
name, a registration status, registered capital, opening and closing dates, a postcode and a GB/T 4754 industry
code; a second, small file lists the industry codes (行业代码表) that ``reference`` checks against. Each column
carries the defects a real registry has, at rates of a few per thousand: wrong check characters, letters GB 32100
forbids, truncated codes, impossible and future birth dates, unknown regions, a lowercase ``x``, 15-digit legacy
ids, landlines and ``0086`` in the phone column, formats with ``+86``, spaces and hyphens (valid), unknown statuses,
negative capital, closing before opening, malformed postcodes, unknown industries, nulls, and credit codes
registered twice. The rates are randomised, not planted counts: the benchmark compares engines with each other.

Rows are generated with numpy in chunks of a million (a chunk depends only on the seed and its number) and
written as one row group each, so a file of 100 million rows never sits in memory.
"""

from __future__ import annotations

import time
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CHUNK = 1_000_000
CREDIT_ALPHABET = b"0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])
CREDIT_HEADS = [b"91", b"92", b"93", b"11", b"12", b"51", b"52", b"53", b"N2", b"31", b"71"]  # allowed
CREDIT_HEAD_P = [0.62, 0.18, 0.04, 0.03, 0.03, 0.03, 0.02, 0.02, 0.01, 0.01, 0.01]
RESIDENT_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
RESIDENT_CHECK = b"10X98765432"
PROVINCES = [11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
             53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83]
STATUSES = ["存续", "在业", "迁入", "迁出", "停业", "清算", "吊销", "注销"]  # 登记状态
STATUS_P = [0.52, 0.2, 0.03, 0.03, 0.03, 0.02, 0.05, 0.12]
BAD_STATUSES = ["撤消", "存续 ", "active", "正常"]
SECTIONS = "ABCDEFGHIJKLMNOPQRST"  # GB/T 4754 门类
INDUSTRIES = 600  # codes in the reference table
TODAY = date(2026, 11, 26)  # the run's clock: resident ids born later fail
EPOCH_DAYS = {"born": (date(1940, 1, 1), date(2005, 12, 31)), "opened": (date(1990, 1, 1), date(2026, 10, 31))}

SCHEMA = pa.schema([
    ("id", pa.int64()), ("credit_code", pa.string()), ("legal_rep_id", pa.string()), ("phone", pa.string()),
    ("name", pa.string()), ("status", pa.string()), ("registered_capital", pa.float64()),
    ("opened", pa.date32()), ("closed", pa.date32()), ("postcode", pa.string()), ("industry", pa.string()),
])


def industry_codes() -> list[str]:
    """The reference table's codes: a section letter and four digits, deterministic."""
    rng = np.random.default_rng(4754)
    codes = {f"{SECTIONS[s]}{n:04d}" for s, n in zip(rng.integers(0, 20, 4 * INDUSTRIES),
                                                      rng.integers(100, 9999, 4 * INDUSTRIES), strict=True)}
    return sorted(codes)[:INDUSTRIES]


def _strings(mat: np.ndarray, lengths: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """A string array from a padded byte matrix (one row per value) and each value's length; null where not valid."""
    n, width = mat.shape
    data = np.ascontiguousarray(mat)[np.arange(width) < lengths[:, None]]
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    arr = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data.tobytes()))
    return arr if valid is None else pc.if_else(pa.array(valid), arr, pa.scalar(None, pa.string()))


def _digits(values: np.ndarray, width: int) -> np.ndarray:
    """Each integer as ``width`` ASCII digit bytes."""
    powers = 10 ** np.arange(width - 1, -1, -1)
    return (values[:, None] // powers % 10 + 48).astype(np.uint8)


def _lookup(alphabet: bytes) -> np.ndarray:
    return np.frombuffer(alphabet, np.uint8)


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month and day of days since 1970-01-01."""
    d = days.astype("datetime64[D]")
    y, m = d.astype("datetime64[Y]"), d.astype("datetime64[M]")
    return (y.astype(int) + 1970, (m - y).astype(int) + 1, (d - m).astype(int) + 1)


def _days(a: date, b: date) -> tuple[int, int]:
    epoch = date(1970, 1, 1)
    return (a - epoch).days, (b - epoch).days


def credit_codes(rng: np.random.Generator, n: int) -> pa.Array:
    """统一社会信用代码: valid mostly; wrong check characters, bad heads, forbidden letters, truncation,
    duplicates (a copy of another row's code) and nulls."""
    alpha = _lookup(CREDIT_ALPHABET)
    mat = np.empty((n, 18), np.uint8)
    heads = np.frombuffer(b"".join(CREDIT_HEADS), np.uint8).reshape(-1, 2)
    mat[:, :2] = heads[rng.choice(len(CREDIT_HEADS), n, p=CREDIT_HEAD_P)]
    mat[:, 2:8] = _digits(rng.integers(110000, 660000, n), 6)
    mat[:, 8:17] = alpha[rng.integers(0, 31, (n, 9))]
    index = np.full(256, 0, np.int64)
    index[alpha] = np.arange(31)
    total = index[mat[:, :17]] @ CREDIT_WEIGHTS
    mat[:, 17] = alpha[(31 - total % 31) % 31]
    lengths = np.full(n, 18, np.int32)
    defect = rng.random(n)
    wrong = defect < 0.005
    mat[wrong, 17] = alpha[(index[mat[wrong, 17]] + rng.integers(1, 31, wrong.sum())) % 31]
    bad_head = (defect >= 0.005) & (defect < 0.006)
    mat[bad_head, 1] = ord("5")  # 9 + 5: no such organisation type
    forbidden = (defect >= 0.006) & (defect < 0.007)
    mat[forbidden, rng.integers(8, 17)] = np.frombuffer(b"IOZSV", np.uint8)[rng.integers(0, 5, forbidden.sum())]
    lower = (defect >= 0.007) & (defect < 0.0075)
    mat[lower, 9] = ord("a")
    lengths[(defect >= 0.0075) & (defect < 0.008)] = 17
    dup = np.flatnonzero(rng.random(n) < 0.003)
    dup = dup[dup > 0]
    src = (rng.random(dup.size) * dup).astype(np.int64)  # an earlier row of the chunk
    mat[dup], lengths[dup] = mat[src], lengths[src]
    return _strings(mat, lengths, rng.random(n) >= 0.002)


def resident_ids(rng: np.random.Generator, n: int) -> pa.Array:
    """法定代表人身份证号: valid mostly; wrong check characters, unknown regions, impossible and future birth
    dates, a lowercase x, 15-digit legacy numbers and nulls."""
    mat = np.empty((n, 18), np.uint8)
    mat[:, :2] = _digits(np.array(PROVINCES)[rng.integers(0, len(PROVINCES), n)], 2)
    mat[:, 2:6] = _digits(rng.integers(100, 9999, n), 4)
    y, m, d = _ymd(rng.integers(*_days(*EPOCH_DAYS["born"]), n))
    defect = rng.random(n)
    impossible = defect < 0.001
    m = np.where(impossible & (defect < 0.0003), 13, m)
    d = np.where(impossible & (defect >= 0.0003) & (defect < 0.0006), 0, d)
    feb29 = impossible & (defect >= 0.0006)
    m, d, y = np.where(feb29, 2, m), np.where(feb29, 29, d), np.where(feb29, 1900 + 4 * (y % 50) + 1, y)
    y = np.where((defect >= 0.001) & (defect < 0.0015), 2030, y)  # born in the future
    mat[:, 6:14] = _digits(y * 10000 + m * 100 + d, 8)
    mat[:, 14:17] = _digits(rng.integers(0, 1000, n), 3)
    check = _lookup(RESIDENT_CHECK)
    total = (mat[:, :17].astype(np.int64) - 48) @ RESIDENT_WEIGHTS
    mat[:, 17] = check[total % 11]
    wrong = (defect >= 0.0015) & (defect < 0.0065)
    mat[wrong, 17] = check[(total[wrong] + rng.integers(1, 11, wrong.sum())) % 11]
    mat[(defect >= 0.0065) & (defect < 0.0075), :2] = np.frombuffer(b"99", np.uint8)
    mat[(defect >= 0.0075) & (defect < 0.0085) & (mat[:, 17] == ord("X")), 17] = ord("x")
    lengths = np.where((defect >= 0.0085) & (defect < 0.0095), 15, 18).astype(np.int32)
    return _strings(mat, lengths, rng.random(n) >= 0.02)


PHONE_FORMATS = [  # (share, prefix, separator after the 3rd and the 7th digit)
    (0.82, b"", b""), (0.08, b"+86", b""), (0.04, b"+86 ", b" "), (0.04, b"", b"-"), (0.02, b"86", b""),
]


def mobiles(rng: np.random.Generator, n: int) -> pa.Array:
    """联系电话: mobile numbers in several valid layouts; landlines, second digits 0-2, ten digits, ``0086`` and
    nulls fail."""
    number = np.empty((n, 11), np.uint8)
    number[:, 0] = ord("1")
    number[:, 1] = rng.integers(ord("3"), ord("9") + 1, n)
    number[:, 2:] = rng.integers(48, 58, (n, 9))
    defect = rng.random(n)
    number[defect < 0.003, 1] = rng.integers(ord("0"), ord("3"), (defect < 0.003).sum())
    landline = (defect >= 0.003) & (defect < 0.013)
    number[landline, :4] = np.frombuffer(b"0571", np.uint8)
    out = np.zeros((n, 17), np.uint8)
    lengths = np.zeros(n, np.int32)
    layout = rng.choice(len(PHONE_FORMATS), n, p=[p for p, _, _ in PHONE_FORMATS])
    for i, (_, prefix, sep) in enumerate(PHONE_FORMATS):
        rows = np.flatnonzero((layout == i) & ~landline)
        parts = [np.frombuffer(prefix, np.uint8)[None, :].repeat(rows.size, 0), number[rows, :3],
                 np.frombuffer(sep, np.uint8)[None, :].repeat(rows.size, 0), number[rows, 3:7],
                 np.frombuffer(sep, np.uint8)[None, :].repeat(rows.size, 0), number[rows, 7:]]
        block = np.concatenate(parts, axis=1)
        out[rows, :block.shape[1]], lengths[rows] = block, block.shape[1]
    rows = np.flatnonzero(landline)  # 0571-8xxxxxxx: a landline in the mobile column
    out[rows, :4], out[rows, 4], out[rows, 5:12] = number[rows, :4], ord("-"), number[rows, 4:11]
    lengths[rows] = 12
    short = (defect >= 0.013) & (defect < 0.015)
    lengths[short] -= 1  # a digit missing
    rows = np.flatnonzero((defect >= 0.015) & (defect < 0.016))
    out[rows, :4], out[rows, 4:15], lengths[rows] = np.frombuffer(b"0086", np.uint8), number[rows], 15
    return _strings(out, lengths, rng.random(n) >= 0.03)


PLACES = ["临江", "杭州", "宁波", "温州", "绍兴", "湖州", "嘉兴", "金华", "衢州", "台州", "丽水", "舟山"]
TRADE_NAMES = "华兴盛达鑫源恒泰宏信安康联创新瑞丰祥和美佳润德成广"  # two of them make a trade name (字号)
TRADES = ["科技", "贸易", "建设", "餐饮", "物流", "制造", "服务", "电子", "纺织", "农业", "文化", "医药"]
FORMS = ["有限公司", "股份有限公司", "有限责任公司", "个体工商户", "专业合作社"]


@cache
def _name_vocab() -> pa.Array:
    return pa.array([f"{p}{a}{b}{t}{f}" for p in PLACES for a in TRADE_NAMES for b in TRADE_NAMES for t in TRADES
                     for f in FORMS])


def names(rng: np.random.Generator, n: int) -> pa.Array:
    """企业名称: place, trade name, trade and legal form (486,720 different names); 1 % missing."""
    pick = rng.integers(0, len(_name_vocab()), n)
    return pc.if_else(pa.array(rng.random(n) >= 0.01), _name_vocab().take(pa.array(pick)), pa.scalar(None, pa.string()))


def postcodes(rng: np.random.Generator, n: int) -> pa.Array:
    """邮政编码: six digits not starting with 0; some with five digits, a leading 0 or a letter; nulls."""
    mat = _digits(rng.integers(100000, 900000, n), 6)
    lengths = np.full(n, 6, np.int32)
    defect = rng.random(n)
    lengths[defect < 0.001] = 5
    mat[(defect >= 0.001) & (defect < 0.002), 0] = ord("0")
    mat[(defect >= 0.002) & (defect < 0.003), 5] = ord("A")
    return _strings(mat, lengths, rng.random(n) >= 0.01)


def chunk(seed: int, number: int, n: int, codes: pa.Array) -> pa.RecordBatch:
    """Rows ``number * CHUNK`` … of the registry; the same for a seed and chunk number whatever else is made."""
    rng = np.random.default_rng([seed, number])
    start = number * CHUNK
    status_i = rng.choice(len(STATUSES), n, p=STATUS_P)
    status = pa.array(STATUSES).take(pa.array(status_i))
    odd = rng.random(n)
    status = pc.if_else(pa.array(odd < 0.002), pa.array(BAD_STATUSES).take(pa.array(rng.integers(0, 4, n))), status)
    status = pc.if_else(pa.array((odd >= 0.002) & (odd < 0.007)), pa.scalar(None, pa.string()), status)
    capital = np.round(rng.lognormal(4.0, 1.5, n), 2)
    capital[rng.random(n) < 0.003] *= -1
    opened = rng.integers(*_days(*EPOCH_DAYS["opened"]), n)
    ended = np.isin(status_i, [STATUSES.index("吊销"), STATUSES.index("注销")]) | (rng.random(n) < 0.01)
    closed = opened + rng.exponential(2000, n).astype(np.int64) + 1
    backwards = ended & (rng.random(n) < 0.005)
    closed[backwards] = opened[backwards] - rng.integers(1, 400, backwards.sum())
    industry = codes.take(pa.array(rng.integers(0, len(codes), n)))
    unknown = pa.array([f"{s}{k:04d}" for s in "UVWXYZ" for k in range(0, 9000, 900)])
    odd = rng.random(n)
    industry = pc.if_else(pa.array(odd < 0.003), unknown.take(pa.array(rng.integers(0, len(unknown), n))), industry)
    industry = pc.if_else(pa.array((odd >= 0.003) & (odd < 0.008)), pa.scalar(None, pa.string()), industry)
    return pa.record_batch([
        pa.array(np.arange(start, start + n, dtype=np.int64)), credit_codes(rng, n), resident_ids(rng, n),
        mobiles(rng, n), names(rng, n), status,
        pa.array(capital, mask=rng.random(n) < 0.01),
        pa.array(opened.astype(np.int32), pa.date32(), mask=rng.random(n) < 0.001),
        pa.array(closed.astype(np.int32), pa.date32(), mask=~ended),
        postcodes(rng, n), industry,
    ], schema=SCHEMA)


def ensure(folder: Path, rows: int, seed: int, log: bool = True) -> tuple[Path, Path, float | None]:
    """The registry and industry files for ``rows`` and ``seed`` (generated once); the seconds generation took,
    or None when the files were already there."""
    folder.mkdir(parents=True, exist_ok=True)
    path, ref = folder / f"registry-{rows}-s{seed}.parquet", folder / "industries.parquet"
    codes = pa.array(industry_codes())
    if not ref.exists():
        names_ = pc.binary_join_element_wise("行业 ", codes, "")
        pq.write_table(pa.table({"code": codes, "name": names_}), ref)
    if path.exists():
        return path, ref, None
    t0 = time.perf_counter()
    part = path.with_suffix(".part")
    with pq.ParquetWriter(part, SCHEMA, compression="zstd") as out:
        for number in range(-(-rows // CHUNK)):
            out.write_batch(chunk(seed, number, min(CHUNK, rows - number * CHUNK), codes), row_group_size=CHUNK)
            if log and number % 10 == 9:
                print(f"  generated {(number + 1) * CHUNK:,} rows", flush=True)
    part.rename(path)  # a file under its final name is complete
    return path, ref, time.perf_counter() - t0
