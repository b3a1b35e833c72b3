"""A demo-like 人口基础信息 extract for the masking tests, built from the definitions (GB 11643 check character,
the mobile numbering plan) and not from the code under test.

``RESIDENTS`` has 60 rows: 公民身份号码 (rows 7, 19 and 41 carry a wrong check character), 姓名, 手机号码 (rows 11
and 33 hold an 11-digit landline where a mobile belongs, row 50 is empty), 居住地址, and 备注 (free text, not
personal). Written as the demo writes it: an .xlsx with a title row above the header.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]  # ISO 7064 MOD 11-2
CHECK = "10X98765432"
REGIONS = ["110105", "330106", "440305", "510107"]
SURNAMES = "张王李赵刘陈杨黄周吴"
BAD_IDS = {7, 19, 41}  # 1-based rows
LANDLINES = {11, 33}
EMPTY_PHONE = {50}


def resident_id(region: str, born: date, seq: int) -> str:
    """A valid 18-character 居民身份证号码."""
    body = f"{region}{born:%Y%m%d}{seq:03d}"
    return body + CHECK[sum(int(c) * w for c, w in zip(body, WEIGHTS, strict=True)) % 11]


def _row(k: int) -> tuple[str, str, str | None, str, str]:
    born = date(1960, 1, 1) + timedelta(days=97 * k)
    rid = resident_id(REGIONS[k % 4], born, k)
    if k in BAD_IDS:
        rid = rid[:-1] + ("0" if rid[-1] != "0" else "1")
    phone: str | None = f"1{'35789'[k % 5]}{k:04d}{(k * 7919) % 100000:05d}"
    if k in LANDLINES:
        phone = f"0{571_0000_000 + k}"
    if k in EMPTY_PHONE:
        phone = None
    name = SURNAMES[k % 10] + ("小明" if k % 3 else "伟")
    address = f"临江市东区滨江街道滨江路{k}号{k % 9 + 1}01室"
    return rid, name, phone, address, f"第{k}次登记"


RESIDENTS = [_row(k) for k in range(1, 61)]
HEADER = ["公民身份号码", "姓名", "手机号码", "居住地址", "备注"]
IDS = [r[0] for r in RESIDENTS]
PHONES = [r[2] for r in RESIDENTS if r[2]]


def residents_xlsx() -> bytes:
    """The extract as the demo's police department hands it over."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["临江市人口基础信息（抽样）", None, None, None, None])  # a title row, as offices do
    ws.append(HEADER)
    for row in RESIDENTS:
        ws.append(list(row))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


RULES = [{"id": "id-valid", "kind": "cn-resident-id", "column": "公民身份号码"},
         {"id": "mobile-valid", "kind": "cn-mobile", "column": "手机号码"},
         {"id": "mobile-present", "kind": "not-null", "column": "手机号码"}]
