"""Atomic writes: the destination is the old file or the complete new one; nothing temporary is left."""

import os

import pytest

from keras_p2c.atomic import TEMPORARY_PREFIX, atomic_path, temporary_name, write_bytes_atomic, write_text_atomic


def test_write_creates_the_folder_and_replaces_the_file(tmp_path):
    path = tmp_path / "sub" / "report.json"
    assert write_text_atomic(path, "first") == path
    write_bytes_atomic(path, b"second", sync_folder=True)
    assert path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.keras"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_path(path) as temporary:
            temporary.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]


def test_the_temporary_name_is_hidden_ours_and_keeps_the_suffix(tmp_path):
    name = temporary_name(tmp_path / "genA2B.weights.h5").name
    assert name.startswith(f"{TEMPORARY_PREFIX}{os.getpid()}-") and name.endswith("-genA2B.weights.h5")
    assert temporary_name(tmp_path / "a.png") != temporary_name(tmp_path / "a.png")
