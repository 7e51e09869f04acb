"""How many processes audit at once. Kept apart from the engine (no pandas, no knowledge), so that
the command can decide before the engine loads whether to start reading ahead (`read_ahead`)."""

from __future__ import annotations

import multiprocessing as mp
import os

DEFAULT_WORKERS = "auto"
AUTO_MAX_WORKERS = 4  # each worker holds a partition (~0.5-0.8 GB at 200k rows): "auto" stops here
MIN_FORK_BYTES = 2 << 20  # smaller input (some 20k-40k rows, about a second) is audited in-process


def usable_cpus() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def env_workers() -> int:
    """MEDCHECK_AUDIT_WORKERS: partitions audited at once in forked processes (default "auto": one
    per usable CPU, at most AUTO_MAX_WORKERS, as memory grows with each). The output is
    byte-identical for any number. Input under MIN_FORK_BYTES is audited in-process whatever the
    number: forking would cost more than it saves."""
    text = os.environ.get("MEDCHECK_AUDIT_WORKERS", DEFAULT_WORKERS).strip().lower()
    if text == "auto":
        return min(usable_cpus(), AUTO_MAX_WORKERS)
    try:
        return max(1, int(text))
    except ValueError:
        return 1


def can_fork() -> bool:
    return "fork" in mp.get_all_start_methods()


def fork_count(size: int, workers: int) -> int:
    """Processes worth forking for input of `size` bytes: 1 without fork or under MIN_FORK_BYTES."""
    return workers if workers > 1 and can_fork() and size >= MIN_FORK_BYTES else 1
