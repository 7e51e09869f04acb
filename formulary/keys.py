"""The one look-up key of the formulary, kept in a module of its own so that every part of the
package can import it without importing the package's loading code."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


@lru_cache(maxsize=16384)
def key(text: str) -> str:
    """Look-up key: case-, accent- and punctuation-insensitive ("Zoledronic-Acid" → "zoledronicacid")."""
    t = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]", "", t)
