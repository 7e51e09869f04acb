"""`medcheck`: the command line. Exit 0 done; 1 done with a finding at or above --fail-on;
2 bad usage or unreadable input."""

from __future__ import annotations

import argparse
import atexit
import json
import os
import sys
from typing import Any, NoReturn, TextIO

from checker.errors import InvalidRegimen
from checker.model import SEVERITIES

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
_COLOURS = {
    "contraindicated": "\033[1;35m",
    "major": "\033[1;31m",
    "moderate": "\033[33m",
    "minor": "\033[36m",
    "info": "\033[2m",
}
_RESET = "\033[0m"


class UsageError(Exception):
    """Bad arguments or unreadable input: exit status 2."""


def _colour(stream: TextIO) -> bool:
    return stream.isatty() and os.environ.get("NO_COLOR") is None


def render_table(report: dict[str, Any], stream: TextIO) -> None:
    """A readable report: one block per finding, most serious first."""
    colour = _colour(stream)
    w = stream.write
    counts = ", ".join(f"{n} {s}" for s, n in report["counts"].items() if n)
    w(f"knowledge {report['knowledge_version']}  ·  {counts or 'no findings'}\n")
    for f in report["findings"]:
        sev = f["severity"].upper()
        label = f"{_COLOURS[f['severity']]}{sev:<15}{_RESET}" if colour else f"{sev:<15}"
        meds = ",".join(str(i) for i in f["medications"])
        w(f"\n{label} {f['category']:<12} {f['code']}  [meds {meds}]\n")
        w(f"  {f['message']}\n")
        if f.get("recommendation"):
            w(f"  → {f['recommendation']}\n")
        if f.get("source", {}).get("label"):
            flag = " (unverified)" if f["source"].get("verified") is False else ""
            w(f"  source: {f['source']['label']}{flag}\n")
    w("\nmedications:\n")
    for m in report["medications"]:
        amount = m.get("daily_dose") or m.get("dose") or ""
        every = f" every {m['interval_h']} h" if m.get("interval_h") and not m.get("daily_dose") else ""
        w(f"  {m['index']:>3}  {m['input']:<28} → {m['drug'] or '(unrecognised)'}  {amount}{every}\n")


def _read_json(path: str) -> Any:
    try:
        if path == "-":
            return json.load(sys.stdin)
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError; an integer of 4300+ digits
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
    except RecursionError:
        raise UsageError(f"{path} is not valid JSON: nested too deeply") from None


def cmd_check(args: argparse.Namespace) -> int:
    from checker import check

    data = _read_json(args.regimen)
    try:
        report = check(data)
    except InvalidRegimen as exc:
        for field, msgs in exc.errors.items():
            print(f"medcheck: {field}: {'; '.join(msgs)}", file=sys.stderr)
        return EXIT_USAGE
    out = report.to_dict()
    if args.json:
        json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        render_table(out, sys.stdout)
    return EXIT_FINDINGS if args.fail_on and report.at_or_above(args.fail_on) else EXIT_OK


def cmd_formulary(args: argparse.Namespace) -> int:
    from checker.catalogue import drug_detail, drug_list

    if args.drug:
        detail = drug_detail(args.drug)
        if detail is None:
            print(f"medcheck: {args.drug!r} is not in the formulary", file=sys.stderr)
            return EXIT_USAGE
        if args.json:
            json.dump(detail, sys.stdout, indent=2, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            _print_drug(detail)
        return EXIT_OK
    rows = drug_list()
    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for r in rows:
            print(f"{r['id']:<24} {r['kind']:<11} {r['name']:<42} {', '.join(r['classes'])}")
    return EXIT_OK


def _print_drug(d: dict[str, Any]) -> None:
    print(f"{d['name']}  ({d['id']}, {d['kind']})")
    for label, k in (
        ("brands", "brands"),
        ("synonyms", "synonyms"),
        ("ATC", "atc"),
        ("RxCUI", "rxcui"),
        ("classes", "classes"),
        ("routes", "routes"),
    ):
        if d.get(k):
            print(f"  {label:<9} {', '.join(d[k])}")
    print(f"  dose unit {d['dose_unit']}")
    for lim in d["limits"]:
        flag = "" if lim["verified"] else " (unverified)"
        print(f"  - {'/'.join(lim['routes'])}: {lim['summary']}{flag}")
        print(f"      source: {lim['source']['label']}")
    if d.get("note"):
        print(f"  note: {d['note']}")


def cmd_rules(args: argparse.Namespace) -> int:
    from checker.catalogue import rule_list

    rows = rule_list()
    if args.json:
        json.dump(rows, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        for r in rows:
            print(f"{r['id']:<48} {r['category']:<12} {r['severity']:<15} {r['source']}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    from checker.serve import serve

    return serve(args)


def cmd_audit(args: argparse.Namespace) -> int:
    from checker.audit.run import run_audit

    return run_audit(args)


class _Version(argparse.Action):
    """`--version`: the package's and the knowledge's, which is what a finding's meaning depends on."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object, **__: object) -> None:
        from checker import __version__
        from checker.engine import knowledge_version

        print(f"medcheck {__version__} (knowledge {knowledge_version()})")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="medcheck", description="Medication and supplement checker.")
    p.add_argument("--version", action=_Version, nargs=0, help="print the version and the knowledge version")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="check one regimen (JSON file, or - for stdin)")
    c.add_argument("regimen")
    c.add_argument("--json", action="store_true", help="print the report as JSON")
    c.add_argument("--fail-on", choices=SEVERITIES, help="exit 1 if a finding is at or above this")
    c.set_defaults(func=cmd_check)
    a = sub.add_parser("audit", help="audit a CSV of medication orders")
    a.add_argument("meds", help="medications CSV (or - for stdin)")
    a.add_argument("--patients", help="patients CSV")
    a.add_argument("-o", "--output", help="findings file: .csv, .json or .html (default stdout CSV)")
    a.add_argument("--fail-on", choices=SEVERITIES)
    a.add_argument("--engine", choices=("pandas", "dask"), default="pandas")
    a.add_argument("--scheduler", help="Dask scheduler address (tcp://host:port)")
    a.add_argument("--chunksize", type=int, default=None, help="rows per chunk (bounded memory)")
    a.add_argument("--keep-columns", action="store_true", help="carry extra input columns through")
    a.add_argument(
        "--workers",
        type=int,
        help="batches audited at once in worker processes; the output is the same for any number "
        "(default $MEDCHECK_AUDIT_WORKERS, else auto: one per CPU, at most 4; input under 2 MiB uses one)",
    )
    a.set_defaults(func=cmd_audit)
    s = sub.add_parser("serve", help="run the HTTP service under gunicorn")
    s.add_argument("--host", default=os.environ.get("MEDCHECK_HOST", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(os.environ.get("MEDCHECK_PORT", "8000")))
    s.add_argument("--workers", type=int, default=int(os.environ.get("MEDCHECK_WORKERS", "2")))
    s.add_argument("--threads", type=int, default=int(os.environ.get("MEDCHECK_THREADS", "8")))
    s.set_defaults(func=cmd_serve)
    f = sub.add_parser("formulary", help="list the formulary, or show one drug")
    f.add_argument("drug", nargs="?")
    f.add_argument("--json", action="store_true")
    f.set_defaults(func=cmd_formulary)
    r = sub.add_parser("rules", help="list every rule with its category, severity and source")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_rules)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"medcheck: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # e.g. the disk holding the output filled up: a message, not a traceback
        print(f"medcheck: {exc.filename or 'standard output'}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


def run() -> NoReturn:
    """The `medcheck` command: `main`, then out without tearing the interpreter down.

    An audit ends holding millions of small objects (per-key findings, interpreted orders,
    patients); freeing them one by one as the interpreter shuts down took 0.2-0.4 s per million
    rows, after the output was complete. The exit handlers still run and the streams are
    flushed, as at a normal exit; temporary files are gone already (each is removed in a
    `finally`) and the commands' threads and worker processes are joined before they return.
    Only the freeing, which the operating system does at once, is skipped."""
    code = main()
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)  # a profiler, debugger or coverage tool writes its results on the way out
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # the reader went away: as `main` takes it
    except OSError as exc:
        print(f"medcheck: standard output: {exc.strerror or exc}", file=sys.stderr)
        code = EXIT_USAGE
    try:
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)


if __name__ == "__main__":
    run()
