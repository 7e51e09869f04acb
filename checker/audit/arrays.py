"""Integer-array helpers the audit uses on its hot paths.

numpy 2's plain `np.unique(x)` on integers goes through a hash table: on the audit's arrays
(hundreds of thousands of codes, mostly ascending) it is several times slower than a sort.
`unique_first` is `np.unique(return_index, return_inverse)` by a stable argsort, which takes the
audit's mostly ascending keys faster than numpy's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def distinct_ints(x: np.ndarray) -> np.ndarray:
    """`np.unique(x)` of a 1-D int array: its distinct values, ascending."""
    s = np.sort(np.asarray(x))
    if len(s) < 2:
        return s
    return s[np.concatenate([[True], s[1:] != s[:-1]])]


def unique_first(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`np.unique(x, return_index=True, return_inverse=True)` of an int array: the sorted distinct
    values, each one's first position (a stable sort, as numpy's), and each element's value index."""
    order = np.argsort(x, kind="stable")
    s = x[order]
    head = np.r_[True, s[1:] != s[:-1]] if len(s) else np.zeros(0, dtype=bool)
    inv = np.empty(len(x), dtype=np.int64)
    inv[order] = np.cumsum(head) - 1
    return s[head], order[head], inv


_RADIX_MAX = 1 << 62  # a combined key stays below this (int64)


def radix_key(*cols: np.ndarray) -> np.ndarray:
    """One int64 per element, ordered and equal as the tuples of the int `cols` are (lexicographic);
    where the combined range would overflow, the key so far is first renumbered densely (same order)."""
    key = np.zeros(len(cols[0]), dtype=np.int64)
    span = 1
    for c in cols:
        c = c.astype(np.int64) - (int(c.min()) if len(c) else 0)
        card = int(c.max()) + 1 if len(c) else 1
        if span * card >= _RADIX_MAX:
            key = dense_ranks(key)
            span = int(key.max()) + 1
        key = key * card + c
        span *= card
    return key


def within(size: np.ndarray) -> np.ndarray:
    """0, 1, ..., size-1 for each size in turn."""
    return np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)


def dense_ranks(key: np.ndarray) -> np.ndarray:
    """Per value, its rank among the distinct values (equal values: equal ranks), so that keys
    combined with it stay small: the values hashed, only the distinct ones sorted (quicker than
    sorting them all when they are far from ascending, and no slower when they are not)."""
    codes, uniq = pd.factorize(key)
    order = np.empty(len(uniq), dtype=np.int64)
    order[np.argsort(uniq, kind="stable")] = np.arange(len(uniq))
    return order[codes]
