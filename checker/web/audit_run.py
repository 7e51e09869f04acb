"""Running an uploaded audit through the command line's stable entry, and reading its result.

The audit's internals are free to change; `medcheck audit MEDS --patients P -o OUT.csv` is not,
and its CSV columns are the contract's. It runs in a child process: an audit may fork workers of
its own, which a threaded web worker must not do, and a failure there cannot take the web worker
down. The uploads and the output live in a temporary folder removed when the run ends; nothing
of them is logged.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.datastructures import FileStorage

PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding checker/, formulary/, rules/
DEFAULT_TIMEOUT_S = 600


class AuditFailed(Exception):
    """The audit could not run on these files; the message is safe to show to the uploader."""


@dataclass
class AuditResult:
    findings: list[dict[str, Any]]
    meta: dict[str, Any]


def run_audit(
    meds: FileStorage, patients: FileStorage | None, timeout: float = DEFAULT_TIMEOUT_S
) -> AuditResult:
    """Run the audit on the uploads. The findings come back as the command's CSV (the contract's
    columns; five times faster for the command to write than its JSON of per-patient reports),
    and the row accounting from its summary line."""
    with tempfile.TemporaryDirectory(prefix="medcheck-audit-") as tmp:
        folder = Path(tmp)
        meds_path = folder / "meds.csv"
        meds.save(meds_path)
        args = ["audit", str(meds_path)]
        if patients is not None:
            patients_path = folder / "patients.csv"
            patients.save(patients_path)
            args += ["--patients", str(patients_path)]
        out = folder / "findings.csv"
        args += ["-o", str(out)]
        names = {str(meds_path): meds.filename or "meds.csv"}  # the copies, by the names uploaded
        if patients is not None:
            names[str(folder / "patients.csv")] = patients.filename or "patients.csv"
        started = datetime.now(UTC)
        stderr = _run(args, timeout)
        try:
            with out.open(encoding="utf-8", newline="") as fh:
                findings = list(csv.DictReader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise AuditFailed(f"The audit wrote no readable result ({exc.__class__.__name__}).") from None
    from checker.engine import knowledge_version

    meta: dict[str, Any] = {
        "run_date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "inputs": [n for n in (meds.filename or "meds.csv", patients and patients.filename) if n],
        "knowledge_version": knowledge_version(),
        **summary_of(stderr),
        "notes": notes_of(stderr, names),
    }
    return AuditResult(findings, meta)


_SUMMARY = re.compile(r"(\d+) rows read, (\d+) rows checked, (\d+) rows rejected, (\d+) patients")


def notes_of(stderr: str, names: dict[str, str]) -> list[str]:
    """What the command said of the inputs on its way (columns it ignored, rows it skipped), with the
    temporary copies called by the names they were uploaded under."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("medcheck: "):
            line = line.removeprefix("medcheck: ")
            for path, name in names.items():
                line = line.replace(path, name)
            out.append(line)
    return out


def summary_of(stderr: str) -> dict[str, int | None]:
    """The row accounting from the command's closing line (CONTRACT §5); None where it is missing."""
    matches = list(_SUMMARY.finditer(stderr))
    found = matches[-1] if matches else None
    keys = ("rows_read", "rows_checked", "rows_rejected", "patients")
    return dict(zip(keys, (int(g) for g in found.groups()), strict=True)) if found else dict.fromkeys(keys)


def _run(args: list[str], timeout: float) -> str:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PACKAGE_ROOT), env.get("PYTHONPATH", "")) if p)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "checker", *args],
            capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise AuditFailed(f"The audit took longer than {timeout:g} s and was stopped.") from None
    if proc.returncode not in (0, 1):  # 1: done, with findings at or above --fail-on (not used)
        said = proc.stderr.splitlines()
        lines = [ln.removeprefix("medcheck: ") for ln in said if ln.startswith("medcheck:")]
        reason = lines[-1] if lines else "the audit stopped with an error"
        # The command names the temporary copies; the uploader knows them by their own names.
        raise AuditFailed(reason.replace(str(Path(args[1]).parent) + os.sep, ""))
    return proc.stderr
