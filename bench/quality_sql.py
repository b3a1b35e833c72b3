"""The quality benchmark's baseline: the same rules written by hand as one DuckDB SQL query (手写 SQL 基线).

What an engineer fluent in DuckDB would write for these twelve rules: one pass over the Parquet file with a
``count(*) FILTER (WHERE …)`` per rule, the distinct industry codes joined once, and the identifier checks as
macros (inlined by DuckDB's binder, so they cost what the expressions they stand for cost): the 统一社会信用代码 and
身份证号 check characters as weighted sums of character positions, the birth date through ``try_strptime``, the
mobile number as one regular expression after removing spaces and hyphens. The counting follows
``chengyun.catalog.rules``: value rules check the non-null rows, ``compare`` the rows with both sides, ``unique``
fails the extra copies (rows minus distinct values).
"""

from __future__ import annotations

from datetime import date
from typing import Any

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_HEADS = ["11", "12", "13", "19", "21", "29", "31", "32", "33", "34", "35", "39", "41", "49", "51", "52",
                "53", "59", "61", "62", "69", "71", "72", "79", "81", "89", "91", "92", "93", "A1", "A9", "N1",
                "N2", "N3", "N9", "Y1"]  # GB 32100 登记管理部门 + 机构类别 pairs
PROVINCES = ["11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42",
             "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71", "81", "82",
             "83"]
STATUSES = ["存续", "在业", "迁入", "迁出", "停业", "清算", "吊销", "注销"]


def _list(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


MACROS = f"""
CREATE OR REPLACE TEMP MACRO credit_ok(c) AS
  regexp_full_match(c, '[0-9A-HJ-NPQRTUWXY]{{2}}[0-9]{{6}}[0-9A-HJ-NPQRTUWXY]{{10}}')
  AND left(c, 2) IN ({_list(CREDIT_HEADS)})
  AND strpos('{CREDIT_ALPHABET}', c[18]) - 1 = (31 - (
        (strpos('{CREDIT_ALPHABET}', c[1]) - 1) * 1   + (strpos('{CREDIT_ALPHABET}', c[2]) - 1) * 3
      + (strpos('{CREDIT_ALPHABET}', c[3]) - 1) * 9   + (strpos('{CREDIT_ALPHABET}', c[4]) - 1) * 27
      + (strpos('{CREDIT_ALPHABET}', c[5]) - 1) * 19  + (strpos('{CREDIT_ALPHABET}', c[6]) - 1) * 26
      + (strpos('{CREDIT_ALPHABET}', c[7]) - 1) * 16  + (strpos('{CREDIT_ALPHABET}', c[8]) - 1) * 17
      + (strpos('{CREDIT_ALPHABET}', c[9]) - 1) * 20  + (strpos('{CREDIT_ALPHABET}', c[10]) - 1) * 29
      + (strpos('{CREDIT_ALPHABET}', c[11]) - 1) * 25 + (strpos('{CREDIT_ALPHABET}', c[12]) - 1) * 13
      + (strpos('{CREDIT_ALPHABET}', c[13]) - 1) * 8  + (strpos('{CREDIT_ALPHABET}', c[14]) - 1) * 24
      + (strpos('{CREDIT_ALPHABET}', c[15]) - 1) * 10 + (strpos('{CREDIT_ALPHABET}', c[16]) - 1) * 30
      + (strpos('{CREDIT_ALPHABET}', c[17]) - 1) * 28) % 31) % 31;
CREATE OR REPLACE TEMP MACRO digit(s, i) AS ord(s[i]) - 48;
CREATE OR REPLACE TEMP MACRO resident_ok(r, today) AS
  regexp_full_match(r, '[0-9]{{17}}[0-9X]')
  AND left(r, 2) IN ({_list(PROVINCES)})
  AND try_strptime(r[7:14], '%Y%m%d') BETWEEN TIMESTAMP '1900-01-01' AND today
  AND r[18] = '10X98765432'[1 + (
        digit(r, 1) * 7 + digit(r, 2) * 9 + digit(r, 3) * 10 + digit(r, 4) * 5 + digit(r, 5) * 8
      + digit(r, 6) * 4 + digit(r, 7) * 2 + digit(r, 8) * 1 + digit(r, 9) * 6 + digit(r, 10) * 3
      + digit(r, 11) * 7 + digit(r, 12) * 9 + digit(r, 13) * 10 + digit(r, 14) * 5 + digit(r, 15) * 8
      + digit(r, 16) * 4 + digit(r, 17) * 2) % 11];
CREATE OR REPLACE TEMP MACRO mobile_ok(p) AS
  regexp_full_match(replace(replace(p, ' ', ''), '-', ''), '(?:\\+?86)?1[3-9][0-9]{{9}}');
"""

QUERY = f"""
SELECT
  count(*)                                                                        AS rows,
  count(*) FILTER (WHERE name IS NULL)                                            AS name_not_null_failed,
  count(*) FILTER (WHERE credit_code IS NULL)                                     AS credit_code_not_null_failed,
  count(credit_code)                                                              AS credit_code_checked,
  count(credit_code) - count(DISTINCT credit_code)                                AS credit_code_unique_failed,
  count(*) FILTER (WHERE credit_ok(credit_code) IS NOT TRUE AND credit_code IS NOT NULL)
                                                                                  AS credit_code_valid_failed,
  count(legal_rep_id)                                                             AS legal_rep_id_checked,
  count(*) FILTER (WHERE resident_ok(legal_rep_id, CAST($today AS TIMESTAMP)) IS NOT TRUE AND legal_rep_id IS NOT NULL)
                                                                                  AS legal_rep_id_valid_failed,
  count(phone)                                                                    AS phone_checked,
  count(*) FILTER (WHERE NOT mobile_ok(phone))                                    AS phone_valid_failed,
  count(status)                                                                   AS status_checked,
  count(*) FILTER (WHERE status NOT IN ({_list(STATUSES)}))                       AS status_in_set_failed,
  count(registered_capital)                                                       AS capital_checked,
  count(*) FILTER (WHERE registered_capital < 0)                                  AS capital_not_negative_failed,
  count(postcode)                                                                 AS postcode_checked,
  count(*) FILTER (WHERE NOT regexp_full_match(postcode, '[1-9][0-9]{{5}}'))      AS postcode_format_failed,
  count(*) FILTER (WHERE closed IS NOT NULL AND opened IS NOT NULL)               AS closed_checked,
  count(*) FILTER (WHERE closed < opened)                                         AS closed_after_opened_failed,
  count(industry)                                                                 AS industry_checked,
  count(*) FILTER (WHERE industry IS NOT NULL AND ref.code IS NULL)               AS industry_known_failed
FROM read_parquet($registry) AS t
LEFT JOIN (SELECT DISTINCT code FROM read_parquet($industries)) AS ref ON t.industry = ref.code
"""

# GE's expect_column_values_to_be_unique fails every row of a duplicated value, not only the extra copies:
# this query (not timed) gives that count too, so GE's figure can be checked against the data.
DUPLICATED_ROWS = """
SELECT coalesce(sum(n), 0) FROM (
  SELECT count(*) AS n FROM read_parquet($registry) WHERE credit_code IS NOT NULL
  GROUP BY credit_code HAVING count(*) > 1)
"""

# (rule id, checked column or a fixed number, failed column), in the order of the benchmark's rules
COUNTS = [
    ("name-not-null", "rows", "name_not_null_failed"),
    ("credit-code-not-null", "rows", "credit_code_not_null_failed"),
    ("credit-code-unique", "credit_code_checked", "credit_code_unique_failed"),
    ("credit-code-valid", "credit_code_checked", "credit_code_valid_failed"),
    ("legal-rep-id-valid", "legal_rep_id_checked", "legal_rep_id_valid_failed"),
    ("phone-valid", "phone_checked", "phone_valid_failed"),
    ("status-in-set", "status_checked", "status_in_set_failed"),
    ("capital-not-negative", "capital_checked", "capital_not_negative_failed"),
    ("postcode-format", "postcode_checked", "postcode_format_failed"),
    ("closed-after-opened", "closed_checked", "closed_after_opened_failed"),
    ("industry-known", "industry_checked", "industry_known_failed"),
]


def run(registry: str, industries: str, today: date, settings: dict[str, str] | None = None) -> dict[str, Any]:
    """Connect (with DuckDB ``settings``, if any), run the query, and return each rule's (checked, failed) and the
    row count."""
    import duckdb

    con = duckdb.connect(config=settings or {})
    con.execute(MACROS)
    params = {"registry": registry, "industries": industries, "today": today.isoformat()}
    cur = con.execute(QUERY, params)
    names = [d[0] for d in cur.description]
    row = dict(zip(names, cur.fetchone(), strict=True))
    con.close()
    counts = {rid: [int(row[c]), int(row[f])] for rid, c, f in COUNTS}
    counts["row-count"] = [1, int(row["rows"] < 1)]
    return {"counts": counts, "rows": int(row["rows"])}


def duplicated_rows(registry: str) -> int:
    """Rows whose credit code another row also has (what GX's unique expectation fails)."""
    import duckdb

    with duckdb.connect() as con:
        return int(con.execute(DUPLICATED_ROWS, {"registry": registry}).fetchone()[0])
