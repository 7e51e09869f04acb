"""The knowledge snapshot: a start-up reads the validated knowledge back instead of re-validating
it, and never serves anything but what the current files would build."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from formulary import _build, load
from formulary.snapshot import digest, snapshot
from rules.knowledge import knowledge
from rules.loader import load_knowledge

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("MEDCHECK_SNAPSHOTS", raising=False)
    return tmp_path / "medcheck" / "knowledge"


def test_a_snapshot_is_what_the_files_build():
    """What a start-up reads back equals a fresh, validated build of the packaged files."""
    fresh = _build()
    assert pickle.loads(pickle.dumps(fresh, protocol=pickle.HIGHEST_PROTOCOL)) == fresh
    assert load() == fresh
    k = load_knowledge(fresh)
    assert pickle.loads(pickle.dumps(k, protocol=pickle.HIGHEST_PROTOCOL)) == k
    assert knowledge() == k


def test_built_once_then_read(cache):
    calls = []

    def build():
        calls.append(1)
        return {"value": 1}

    assert snapshot("t", build) == {"value": 1}
    assert snapshot("t", build) == {"value": 1}
    assert len(calls) == 1
    assert [p.name for p in cache.iterdir()] == [f"t-{digest()}.pickle"]


def test_a_damaged_snapshot_is_rebuilt(cache):
    snapshot("t", lambda: 1)
    (cache / f"t-{digest()}.pickle").write_bytes(b"not a pickle")
    assert snapshot("t", lambda: 2) == 2
    assert snapshot("t", lambda: 3) == 2  # the rebuilt one was written back


def test_switched_off(cache, monkeypatch):
    monkeypatch.setenv("MEDCHECK_SNAPSHOTS", "0")
    assert snapshot("t", lambda: 1) == 1
    assert snapshot("t", lambda: 2) == 2
    assert not cache.exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_an_unwritable_cache_is_no_error(cache):
    cache.parent.mkdir(parents=True)
    cache.parent.chmod(0o500)
    try:
        assert snapshot("t", lambda: 1) == 1
    finally:
        cache.parent.chmod(0o700)


def test_a_changed_data_file_is_validated_again(tmp_path):
    """A copy of the packages with one byte changed in a data file names another snapshot, and a
    broken file fails at start-up even when the unchanged files' snapshot is on disk."""
    for package in ("formulary", "rules"):
        subprocess.run(["cp", "-r", str(ROOT / package), str(tmp_path / package)], check=True)
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}", "XDG_CACHE_HOME": str(tmp_path / "c")}
    probe = "from formulary.snapshot import digest; from rules.knowledge import knowledge; "
    probe += "knowledge(); print(digest())"
    run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True}
    first = subprocess.run([sys.executable, "-c", probe], check=True, **run)
    drugs = tmp_path / "formulary" / "data" / "drugs.toml"
    drugs.write_text(drugs.read_text() + "\n[[drug]]\nid = 1\n")
    second = subprocess.run([sys.executable, "-c", probe], **run)
    assert second.returncode != 0
    assert "drugs.toml" in second.stderr
    assert first.stdout.strip() == digest()  # the same files as this checkout: the same name
