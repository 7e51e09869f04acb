"""Running an uploaded audit through the command line's stable entry, and reading its result.

The audit's internals are free to change; `medcheck audit MEDS --patients P -o OUT.json` is not.
It runs in a child process: an audit may fork workers of its own, which a threaded web worker
must not do, and a failure there cannot take the web worker down. The uploads and the output
live in a temporary folder removed when the run ends; nothing of them is logged.
"""

from __future__ import annotations

import json
import os
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
    with tempfile.TemporaryDirectory(prefix="medcheck-audit-") as tmp:
        folder = Path(tmp)
        meds_path = folder / "meds.csv"
        meds.save(meds_path)
        args = ["audit", str(meds_path)]
        if patients is not None:
            patients_path = folder / "patients.csv"
            patients.save(patients_path)
            args += ["--patients", str(patients_path)]
        out = folder / "findings.json"
        args += ["-o", str(out)]
        started = datetime.now(UTC)
        _run(args, timeout)
        try:
            data = json.loads(out.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AuditFailed(f"The audit wrote no readable result ({exc.__class__.__name__}).") from None
    findings = findings_of(data)
    summary = data.get("summary") or {}
    meta = {
        "run_date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "inputs": [n for n in (meds.filename or "meds.csv", patients and patients.filename) if n],
        "knowledge_version": data.get("knowledge_version", ""),
        "rows_read": summary.get("rows_read"),
        "rows_checked": summary.get("rows_checked"),
        "rows_rejected": summary.get("rows_rejected"),
        "patients": summary.get("patients"),
    }
    return AuditResult(findings, meta)


def _run(args: list[str], timeout: float) -> None:
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
        lines = [
            ln.removeprefix("medcheck: ") for ln in proc.stderr.splitlines() if ln.startswith("medcheck:")
        ]
        reason = lines[-1] if lines else "the audit stopped with an error"
        # The command names the temporary copies; the uploader knows them by their own names.
        raise AuditFailed(reason.replace(str(Path(args[1]).parent) + os.sep, ""))


def findings_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The audit's JSON (per-patient reports, or a flat `findings` list) as rows with the CSV
    columns of the contract: patient_id, rows, severity, category, code, drugs, message,
    recommendation, rule."""
    if isinstance(data.get("findings"), list):
        return [_row(f.get("patient_id", ""), f) for f in data["findings"]]
    out = []
    for rep in data.get("patients") or ():
        pid = rep.get("patient_id", "")
        out.extend(_row(pid, f) for f in rep.get("findings") or ())
    return out


def _joined(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return "" if value is None else str(value)


def _row(pid: Any, f: dict[str, Any]) -> dict[str, Any]:
    return {
        "patient_id": _joined(pid),
        "rows": _joined(f.get("rows")),
        "severity": _joined(f.get("severity")),
        "category": _joined(f.get("category")),
        "code": _joined(f.get("code")),
        "drugs": _joined(f.get("drugs")),
        "message": _joined(f.get("message")),
        "recommendation": _joined(f.get("recommendation")),
        "rule": _joined(f.get("rule")),
    }
