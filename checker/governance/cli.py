"""`medcheck feedback [--since DATE] [-o page.html|summary.json] [--json]`: the override
summary from the database the server writes (MEDCHECK_DATABASE_URL or the default file)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from checker.governance.analytics import candidates, feedback_summary, parse_since

EXIT_OK, EXIT_USAGE = 0, 2


def _usage(message: str) -> int:
    print(f"medcheck: {message}", file=sys.stderr)
    return EXIT_USAGE


def feedback(args: argparse.Namespace) -> int:
    from checker.store import database_url, open_store
    from checker.store.db import redacted

    try:
        since = parse_since(args.since)
    except ValueError:
        return _usage(f"--since {args.since!r} is not an ISO date (2026-12-01)")
    try:
        store = open_store()
    except Exception as exc:  # unreachable or unmigratable database: say which, not a traceback
        return _usage(f"cannot open the database {redacted(database_url())}: {type(exc).__name__}")
    summary = feedback_summary(store, since)
    if args.output:
        out = Path(args.output)
        if out.suffix.lower() == ".json":
            text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
        else:
            from checker.engine import knowledge_version
            from checker.governance.page import render
            from checker.site import active

            site = active()
            text = render(summary, knowledge_version() + (site.tag if site else ""))
        out.write_text(text, encoding="utf-8")
    if args.json:
        json.dump(summary, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    elif not args.output:
        _table(summary)
    return EXIT_OK


def _table(summary: dict) -> None:
    rows = summary["rules"]
    print(f"since {summary['since']}  ·  {len(rows)} rule(s) with showings or answers")
    print(f"{'rule':<48} {'shown':>7} {'accepted':>8} {'overridden':>10} {'rate':>6}  top reasons")
    for r in sorted(rows, key=lambda r: (-r["overridden"], r["rule"])):
        reasons = ", ".join(f"{x['code']} ({x['count']})" for x in r["reasons"][:3])
        print(f"{r['rule']:<48} {r['shown']:>7} {r['accepted']:>8} {r['overridden']:>10} "
              f"{r['override_rate'] * 100:>5.0f}%  {reasons}")
    hits = candidates(rows)
    if hits:
        print("\ncandidates for a site change (overridden in > 90 % of >= 50 showings):")
        for r in hits:
            print(f"  {r['rule']}  {r['overridden']}/{r['shown']}")
