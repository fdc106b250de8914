"""The one atomic write: temporary sibling, rename on success, nothing half-written on failure,
and the partial name that a killed writer leaves is the one the cleanups recognise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from frrn_seg_ros.core.files import PARTIAL_NAME, atomic_folder, atomic_write


def test_atomic_write_renames_a_hidden_sibling_over_the_target(tmp_path):
    target = tmp_path / "sub" / "model.pt"
    with atomic_write(target) as tmp:
        assert tmp.parent == target.parent and not target.exists()
        match = PARTIAL_NAME.match(tmp.name)
        assert match and match["name"] == "model.pt"
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in target.parent.iterdir()] == ["model.pt"]
    plain = tmp_path / "plain"
    plain.write_bytes(b"")
    assert target.stat().st_mode == plain.stat().st_mode  # not tempfile's owner-only 0600


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "model.pt"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="writer failed"), atomic_write(target) as tmp:
        tmp.write_bytes(b"half")
        raise ValueError("writer failed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_atomic_folder_replaces_the_whole_folder_only_on_success(tmp_path):
    final = tmp_path / "data"
    final.mkdir()
    (final / "stale.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_folder(final) as work:
        (work / "a.txt").write_text("half")
        raise RuntimeError
    assert sorted(p.name for p in final.iterdir()) == ["stale.txt"]
    with atomic_folder(final) as work:
        assert PARTIAL_NAME.match(work.name)["name"] == "data"
        (work / "nested").mkdir()
        (work / "nested" / "b.txt").write_text("new")
    assert sorted(str(p.relative_to(final)) for p in final.rglob("*")) == ["nested", "nested/b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_a_killed_writer_leaves_only_a_recognisable_partial(tmp_path):
    target = tmp_path / "latest.pt"
    code = (
        "import os, sys\nfrom frrn_seg_ros.core.files import atomic_write\n"
        "with atomic_write(sys.argv[1]) as tmp:\n    tmp.write_bytes(b'partial')\n    os._exit(9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(target)], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    left = list(tmp_path.iterdir())
    assert len(left) == 1 and not target.exists()
    assert PARTIAL_NAME.match(left[0].name)["name"] == "latest.pt"
