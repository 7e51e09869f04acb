"""Integer-array helpers the audit uses on its hot paths.

numpy 2's plain `np.unique(x)` on integers goes through a hash table: on the audit's arrays
(hundreds of thousands of codes, mostly ascending) it is several times slower than a sort.
(With `return_index` / `return_inverse` numpy sorts anyway, and is used as it is.)
"""

from __future__ import annotations

import numpy as np


def distinct_ints(x: np.ndarray) -> np.ndarray:
    """`np.unique(x)` of a 1-D int array: its distinct values, ascending."""
    s = np.sort(np.asarray(x))
    if len(s) < 2:
        return s
    return s[np.concatenate([[True], s[1:] != s[:-1]])]
