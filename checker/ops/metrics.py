"""Prometheus metrics. Under `medcheck serve` every worker writes its values to files in
PROMETHEUS_MULTIPROC_DIR (set before prometheus_client is imported; see `multiproc_dir`) and
/metrics sums them, so any worker's answer covers all of them."""

from __future__ import annotations

import os
from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from checker.ops.multiproc import ENV

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REQUESTS = Counter("medcheck_http_requests_total", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram("medcheck_http_request_duration_seconds", "Time to answer a request", ["endpoint"],
                    buckets=BUCKETS)  # fmt: skip
FINDINGS = Counter("medcheck_findings_total", "Findings served (reports and cards)", ["severity", "rule"])
AUDIT_ROWS = Counter("medcheck_audit_rows_total", "Medication rows read by audits")
AUDIT_SECONDS = Histogram("medcheck_audit_duration_seconds", "Time an audit took",
                          buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600))  # fmt: skip


_FINDING_CHILDREN: dict[tuple[str, str], object] = {}


def count_findings(counts: Mapping[tuple[str, str], int]) -> None:
    """Add {(rule, severity): n} to the findings counter (a batch: see checker.store.shown).
    Each label pair's child is looked up once per process."""
    children = _FINDING_CHILDREN
    for pair, n in counts.items():
        child = children.get(pair)
        if child is None:
            child = children[pair] = FINDINGS.labels(pair[1], pair[0])
        child.inc(n)  # type: ignore[attr-defined]


def record_audit(rows: int, seconds: float) -> None:
    """For an audit run by the service (the audit page): rows read and time taken."""
    AUDIT_ROWS.inc(rows)
    AUDIT_SECONDS.observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus text format: all workers' when multiprocess mode is on."""
    if os.environ.get(ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
