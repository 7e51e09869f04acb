"""The /governance page and its offline HTML twin (`medcheck feedback -o x.html`): the summary
as tables and inline SVG bar charts (patterns and numbers, so no colour is needed to read them)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from checker.governance.analytics import CANDIDATE_MIN_SHOWN, CANDIDATE_RATE, candidates

_ENV = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)  # fmt: skip
CHART_ROWS = 25
BAR_W = 360


def _bars(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Widths for the chart: the longest bar is the most shown rule; the hatched part overridden."""
    def total(r: dict[str, Any]) -> int:
        return max(r["shown"], r["accepted"] + r["overridden"])

    top = sorted(rows, key=lambda r: (-total(r), r["rule"]))[:CHART_ROWS]
    most = max((total(r) for r in top), default=0) or 1
    out = []
    for i, r in enumerate(top):
        out.append({**r, "y": i * 34, "w": round(BAR_W * total(r) / most, 1),
                    "ow": round(BAR_W * r["overridden"] / most, 1),
                    "aw": round(BAR_W * r["accepted"] / most, 1)})  # fmt: skip
    return out


def render(summary: dict[str, Any], knowledge_version: str | None = None) -> str:
    rows = summary["rules"]
    bars = _bars(rows)
    return _ENV.get_template("governance.html").render(
        since=summary["since"], rows=sorted(rows, key=lambda r: (-r["overridden"], r["rule"])),
        bars=bars, chart_h=len(bars) * 34 + 10, bar_w=BAR_W,
        candidates=candidates(rows), rate_pct=round(CANDIDATE_RATE * 100), min_shown=CANDIDATE_MIN_SHOWN,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), knowledge_version=knowledge_version,
    )  # fmt: skip
