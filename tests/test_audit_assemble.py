"""`assemble`'s integer keys for rows' index tuples order and identify them as Python tuples do."""

from __future__ import annotations

import numpy as np
import pandas as pd

from checker.audit import assemble, memo
from checker.model import Finding


def _blocks(rng: np.random.Generator) -> tuple[list[memo.Block], memo.Templates]:
    t = memo.Templates()
    for i in range(6):
        t.add(Finding(f"c{i % 3}", "dose", ["major", "minor"][i % 2], (f"d{i % 2}",), (), f"m{i % 4}", "r"))
    blocks = []
    for family, width in enumerate([0, 1, 2, 3, 1, 2]):
        n = 40
        local = np.sort(rng.integers(0, 5, size=(n, width)), axis=1)
        blocks.append(memo.Block(family, rng.integers(0, 4, n), rng.integers(0, 6, n), local + 1, local))
    return blocks, t


def test_local_keys_match_tuples(monkeypatch):
    rng = np.random.default_rng(7)
    blocks, t = _blocks(rng)
    codes, firsts = pd.Index(["a", "b", "c", "d"]), pd.Series([1, 5, 9, 12])
    fast = assemble.assemble(blocks, t, codes, firsts, False)
    key, rank = assemble._local_keys(blocks)
    ltid, lrank = assemble._local_tuples(blocks)
    assert (pd.factorize(key)[0] == pd.factorize(ltid)[0]).all()
    assert (np.argsort(rank, kind="stable") == np.argsort(lrank, kind="stable")).all()
    monkeypatch.setattr(assemble, "_local_keys", lambda b: None)
    slow = assemble.assemble(blocks, t, codes, firsts, False)
    pd.testing.assert_frame_equal(fast, slow)
    assert fast["rows"].str.count(";").max() == 2
