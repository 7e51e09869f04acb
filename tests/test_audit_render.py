"""The findings frame (`assemble`) and its CSV and totals (`output`) are what a user gets from the
engine's rules: each patient's findings de-duplicated and sorted as `check()` reports them, the
CSV byte for byte what the csv module writes, and the same for any partitioning."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from checker.audit import arrays, assemble, csv_lines, memo, output
from checker.audit.evaluate import Result
from checker.audit.partition import merge_results
from checker.model import SEVERITIES, SEVERITY_RANK, Finding

# Text that a spreadsheet or the csv module treats specially, and drugs whose `;`-join sorts
# otherwise than their tuple ("a-b" < "a;b" as text, but ("a", "b") < ("a-b",) as tuples) or is
# another tuple's (("a;b",) is not ("a", "b"), but shows as it).
TEXTS = [
    "=SUM(A1)",
    "+1",
    "-x",
    "@me",
    'say "hi"',
    "a,b",
    "line\nbreak",
    "cr\rhere",
    "tab\there",
    " sp",
    "",
    "é",
]
DRUGS = [(), ("a",), ("a", "b"), ("a-b",), ("b",), ("a", "c"), ("a;b",)]


def _templates(rng: np.random.Generator, n: int) -> memo.Templates:
    t = memo.Templates()
    for i in range(n):
        pick = rng.integers(0, 4, size=5)
        t.add(
            Finding(
                code=f"c{pick[0]}" if pick[0] else TEXTS[i % len(TEXTS)],
                category=["dose", "interaction", "=cat"][pick[1] % 3],
                severity=SEVERITIES[int(rng.integers(0, len(SEVERITIES)))],
                drugs=DRUGS[int(rng.integers(0, len(DRUGS)))],
                medications=(),
                message=[f"m{pick[2]}", TEXTS[int(rng.integers(0, len(TEXTS)))]][pick[3] % 2],
                recommendation=TEXTS[int(rng.integers(0, len(TEXTS)))],
                evidence={"i": i},  # templates alike but for evidence: distinct objects
            )
        )
    return t


def _blocks(rng: np.random.Generator, n_pat: int, n_tpl: int) -> list[memo.Block]:
    blocks = []
    for family, width in enumerate([1, 0, 2, 3, 1, 2, 0]):
        n = int(rng.integers(1, 60))
        local = np.sort(rng.integers(0, 4, size=(n, width)), axis=1)
        pidx = rng.integers(0, n_pat, n)
        blocks.append(
            memo.Block(family, pidx, rng.integers(0, n_tpl, n), local + 10 * pidx[:, None] + 1, local)
        )
    return blocks


def _engine_order(blocks, t, codes, firsts) -> list[tuple]:
    """Per patient as the engine reports: the last of equal (code, drugs, medications, message)
    kept, then sorted by severity, category, drugs, code, medications, message."""
    hits = [
        (int(b.pidx[i]), t.found[b.tid[i]], tuple(b.local[i].tolist()), tuple(b.rows[i].tolist()))
        for b in sorted(blocks, key=lambda b: b.family)
        for i in range(len(b.pidx))
    ]
    last = {(p, x.code, x.drugs, loc, x.message): k for k, (p, x, loc, _) in enumerate(hits)}
    kept = [hits[k] for k in sorted(last.values())]
    kept.sort(
        key=lambda h: (
            (firsts.iloc[h[0]], SEVERITY_RANK[h[1].severity], h[1].category, h[1].drugs, h[1].code)
            + (h[2], h[1].message)
        )
    )
    return [
        (codes[p], ";".join(map(str, rows)), x.severity, x.category, x.code, ";".join(x.drugs), x.message)
        + (x.recommendation, x)
        for p, x, _, rows in kept
    ]


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("radix_max", [None, 50])
def test_assemble_orders_as_the_engine(monkeypatch, seed, radix_max):
    """A small key range takes `radix_key`'s renumbering path."""
    if radix_max:
        monkeypatch.setattr(arrays, "_RADIX_MAX", radix_max)
    rng = np.random.default_rng(seed)
    t = _templates(rng, 40)
    codes = pd.Index([f"p{i}" for i in range(7)])
    firsts = pd.Series(rng.permutation(100)[:7] + 1, index=codes)
    blocks = _blocks(rng, len(codes), len(t.found))
    out = assemble.assemble(blocks, t, codes, firsts, True)
    got = [(*row[:8], row[-1]) for row in out[[*assemble.COLUMNS, "obj"]].itertuples(index=False, name=None)]
    want = _engine_order(blocks, t, codes, firsts)
    assert [g[:8] for g in got] == [w[:8] for w in want]
    assert all(g[8] is w[8] for g, w in zip(got, want, strict=True))  # the kept hit's own template
    assert out["first_row"].tolist() == [int(firsts[w[0]]) for w in want]
    assert out["sev_rank"].tolist() == [SEVERITY_RANK[w[2]] for w in want]


def _frame(rng: np.random.Generator, n: int, categorical: bool, templates: int = 0) -> pd.DataFrame:
    """Findings with awkward text; the template's columns picked each on its own, or (templates)
    together from that many templates, as the audit's findings repeat them."""
    values = {
        "severity": SEVERITIES,
        "category": ["dose", "=x", "interaction"],
        "code": [f"c{i}" for i in range(5)] + TEXTS[:4],
        "drugs": ["a", "a;b", ""],
        "message": TEXTS,
        "recommendation": TEXTS[::-1],
    }
    which = rng.integers(0, templates, n) if templates else None
    f = pd.DataFrame(
        {
            "patient_id": pd.Series(
                [f"=p{i // 10}" if i % 7 else f"p{i // 10}" for i in range(n)], dtype="str"
            ),
            "rows": pd.Series([f"{i};{i + 1}" for i in range(n)], dtype="str"),
        }
    )
    for name, options in values.items():
        picked = np.array(options, dtype=object)[rng.integers(0, len(options), templates or n)]
        s = pd.Series(picked if which is None else picked[which], dtype="str")
        f[name] = s.astype("category") if categorical else s
    f["first_row"] = np.arange(n) // 10
    f["sev_rank"] = f["severity"].astype(str).map(SEVERITY_RANK).astype(np.int64)
    f["order"] = np.arange(n)
    f["ward"] = pd.Series(rng.choice(np.array(["@w", "a;b", None, "x,y"], dtype=object), n), dtype=object)
    return f


def _csv(findings: pd.DataFrame, keep: list[str]) -> str:
    payload = output.CsvWriter(io.StringIO(), keep).render(Result(findings, 0, 0, 0))
    return b"".join(bytes(b) for b in payload.batches()).decode("utf-8")


@pytest.mark.parametrize("categorical", [True, False])
@pytest.mark.parametrize("templates", [0, 12])
@pytest.mark.parametrize("keep", [[], ["ward"]])
def test_csv_is_what_the_csv_module_writes(monkeypatch, categorical, templates, keep):
    """Small batches and samples: lines cross batches, and text columns are taken per value
    (patients, wards) or per finding (rows), the template's together where they repeat."""
    monkeypatch.setattr(output, "CSV_BATCH_ROWS", 37)
    monkeypatch.setattr(csv_lines, "SAMPLE_ROWS", 32)
    monkeypatch.setattr(csv_lines, "REPEATS", 4)
    f = _frame(np.random.default_rng(1), 400, categorical, templates)
    names = [*assemble.COLUMNS, *keep]
    want = pd.DataFrame({c: output.neutralise(f[c]) for c in names}).to_csv(
        index=False, header=False, lineterminator="\n"
    )
    assert _csv(f, keep) == want


@pytest.mark.parametrize("large", [True, False])
def test_cells_needing_quotes_are_found_in_slices(large):
    kind = pa.large_string() if large else pa.string()
    a = pa.chunked_array([pa.array(["a", "b,c", "d"], kind), pa.array(["", 'e"f', "g"], kind)])
    for lo, n in [(0, 6), (0, 1), (2, 1), (1, 1), (3, 1), (4, 1), (5, 1), (2, 2)]:
        part = a.slice(lo, n)
        want = any(ch in x for x in part.to_pylist() for ch in csv_lines._quote_chars())
        assert csv_lines._holds(part, csv_lines._quote_chars()) == want
        assert csv_lines._holds(part.combine_chunks(), csv_lines._quote_chars()) == want


def _state(t: output.Totals) -> tuple:
    return (
        list(t.severity.items()),
        [(c, list(n.items())) for c, n in t.category.items()],
        list(t.codes.items()),
        list(t.examples.items()),
        sorted(t.worst),
    )


def test_totals_do_not_depend_on_the_columns_dtype():
    """Counters in the order a text column gives them (it decides ties in the HTML page), with no
    trace of a categorical's unused values."""
    f = _frame(np.random.default_rng(2), 200, True)
    f["code"] = f["code"].cat.add_categories(["unused"])
    text = f.astype({c: "str" for c in assemble.COLUMNS})
    assert _state(output.Totals.of(Result(f, 0, 0, 0))) == _state(output.Totals.of(Result(text, 0, 0, 0)))


def test_the_summary_is_the_same_without_the_html_detail():
    """CSV and JSON output count only what the summary line, --fail-on and the JSON summary show;
    those are the counts the HTML page's totals have."""
    f = _frame(np.random.default_rng(4), 300, True)
    res = Result(f, 310, 10, 57)
    full, brief = output.Totals.of(res), output.Totals.of(res, detail=False)
    assert brief.line("utf-8") == full.line("utf-8")
    assert brief.at_or_above("major") == full.at_or_above("major") > 0
    assert not brief.category and not brief.codes and not brief.worst
    assert full.category and full.codes and full.worst
    assert output.HtmlWriter.detail and not output.CsvWriter.detail and not output.JsonWriter.detail


def test_partitions_merged_render_as_one():
    """Dask merges partitions' frames (their categories differ): the same CSV as each one's."""
    rng = np.random.default_rng(3)
    a, b = _frame(rng, 90, True), _frame(rng, 120, True)
    b["first_row"] += 1000
    merged = merge_results([Result(a, 1, 0, 1), Result(b, 1, 0, 1)])
    assert _csv(merged.findings, ["ward"]) == _csv(a, ["ward"]) + _csv(b, ["ward"])
