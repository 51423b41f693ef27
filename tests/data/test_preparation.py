"""Dataset preparation: photos → aligned, masked crops in trainA/testA, a report of every skip, resume."""

import csv
import json

import cv2
import numpy as np
import pytest

from keras_p2c.data import preparation
from keras_p2c.cli.main import main as p2c
from keras_p2c.data.preparation import PrepOptions, output_name, prepare_dataset, split_of


def write_image(path, rgb):
    # Encoded in memory and written by Python: cv2.imwrite crashes on names that are not valid UTF-8.
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(path.suffix, np.ascontiguousarray(rgb[:, :, ::-1]))
    assert ok
    path.write_bytes(data.tobytes())


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, two_faces):
    """A folder of good and bad photos; returns `(folder, good keys, {bad name: reason fragment})`."""
    folder = tmp_path_factory.mktemp("photos")
    write_image(folder / "anna.jpg", astronaut)
    write_image(folder / "mirror.png", astronaut[:, ::-1])
    write_image(folder / "more" / "gray.png", np.repeat(cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)[:, :, None], 3, 2))
    write_image(folder / "pair.jpg", two_faces)
    write_image(folder / "tiny.png", cv2.resize(astronaut, (96, 96), interpolation=cv2.INTER_AREA))
    border = np.full((512, 512, 3), 255, np.uint8)
    border[:, :300] = astronaut[:, 212:]  # the face cut by the left edge
    write_image(folder / "border.png", border)
    write_image(folder / "blank.png", np.full((200, 200, 3), 90, np.uint8))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 100)
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.txt").write_text("not a photo")
    bad = {
        "tiny.png": "face too small",
        "border.png": "face at the border",
        "blank.png": "no face found",
        "broken.jpg": "truncated or corrupt",
        "empty.png": "empty",
        "notes.txt": "not an image file",
    }
    return folder, ["anna", "mirror", "more/gray", "pair"], bad


def test_layout_report_and_resume(photos, tmp_path, monkeypatch, capsys):
    folder, good, bad = photos
    root = tmp_path / "data"
    assert p2c(["prepare-dataset", str(folder), "-o", str(root), "--test-fraction", "0.5", "--quiet"]) == 0
    assert "4 written, 0 already done, 6 skipped, 0 failed" in capsys.readouterr().out

    for key in good:
        split = split_of(key, 0.5)
        image = cv2.imread(str(root / f"{split}A" / output_name(key)), cv2.IMREAD_UNCHANGED)
        assert image.shape == (256, 256, 3), key
        # Masked on white: the top corners (background) are white, the centre (face) is not.
        assert (image[:10, :10] >= 250).all() and image[120:136, 120:136].mean() < 230
    written = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    assert written == sorted(f"{split_of(key, 0.5)}A/{output_name(key)}" for key in good)
    assert {split_of(key, 0.5) for key in good} == {"train", "test"}  # both folders used here

    report = json.loads((root / "prepare_report.json").read_text())
    records = {r["file"].rsplit("/", 1)[-1]: r for r in report["files"]}
    for name, reason in bad.items():
        assert records[name]["status"] == "skipped" and reason in records[name]["reason"], records[name]
    assert records["pair.jpg"]["faces"] == 1  # the largest face, as the reference
    with open(root / "prepare_skipped.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["file"].rsplit("/", 1)[-1] for row in rows) == sorted(bad)

    # Resume: nothing is processed again, not even the photos skipped the first time.
    calls = []
    original = preparation.process_photo
    monkeypatch.setattr(preparation, "process_photo", lambda *a: calls.append(a) or original(*a))
    summary = prepare_dataset(folder, PrepOptions(str(root), test_fraction=0.5), progress=False)
    assert calls == [] and summary["already_done"] == 4 and summary["skipped"] == 6 and summary["written"] == 0

    # A deleted output is made again; --retry-skipped processes the skipped photos again.
    (root / f"{split_of('anna', 0.5)}A" / "anna.png").unlink()
    summary = prepare_dataset(folder, PrepOptions(str(root), test_fraction=0.5), progress=False)
    assert [call[1] for call in calls] == ["anna"] and summary["written"] == 1
    calls.clear()
    prepare_dataset(folder, PrepOptions(str(root), test_fraction=0.5), retry_skipped=True, progress=False)
    assert sorted(call[0].rsplit("/", 1)[-1] for call in calls) == sorted(set(bad) - {"notes.txt"})


def test_an_unexpected_error_fails_one_photo_and_is_retried(photos, tmp_path, monkeypatch):
    folder, _, _ = photos
    inputs = [str(folder / "anna.jpg"), str(folder / "mirror.png")]
    options = PrepOptions(str(tmp_path / "data"), test_fraction=0.0)
    original = preparation.process_photo

    def flaky(path, key, options):
        if key == "anna":
            raise OSError(28, "No space left on device")
        return original(path, key, options)

    monkeypatch.setattr(preparation, "process_photo", flaky)
    summary = prepare_dataset(inputs, options, progress=False)
    assert (summary["written"], summary["failed"]) == (1, 1)
    with open(tmp_path / "data" / "prepare_skipped.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["file"].endswith("anna.jpg") and row["status"] == "failed" and "No space left" in row["reason"]

    monkeypatch.setattr(preparation, "process_photo", original)
    summary = prepare_dataset(inputs, options, progress=False)  # the failure is retried, the rest kept
    assert (summary["written"], summary["already_done"], summary["failed"]) == (1, 1, 0)


def test_rgba_all_faces_and_no_mask(photos, tmp_path):
    folder, _, _ = photos
    pair = [str(folder / "pair.jpg")]
    options = PrepOptions(str(tmp_path / "rgba"), test_fraction=0.0, rgba=True, faces="all", detect_size=1024)
    assert prepare_dataset(pair, options, progress=False)["faces_train"] == 2
    for index in (1, 2):
        image = cv2.imread(str(tmp_path / "rgba" / "trainA" / f"pair_{index}.png"), cv2.IMREAD_UNCHANGED)
        assert image.shape == (256, 256, 4)
        alpha = image[:, :, 3]
        assert alpha[:10, :10].max() < 30 and alpha[120:136, 120:136].min() > 225  # background out, face in

    options = PrepOptions(str(tmp_path / "plain"), test_fraction=0.0, rgba=True, mask=False)
    prepare_dataset(pair, options, progress=False)
    assert (cv2.imread(str(tmp_path / "plain" / "trainA" / "pair.png"), cv2.IMREAD_UNCHANGED)[:, :, 3] == 255).all()

    options = PrepOptions(str(tmp_path / "single"), faces="single", detect_size=1024)
    summary = prepare_dataset(pair, options, progress=False)
    report = json.loads((tmp_path / "single" / "prepare_report.json").read_text())
    assert summary["skipped"] == 1 and "2 faces found" in report["files"][0]["reason"]


def test_split_is_deterministic_stable_and_close_to_the_fraction():
    keys = [f"person_{i:04d}" for i in range(2000)]
    splits = [split_of(key, 0.1) for key in keys]
    assert splits == [split_of(key, 0.1) for key in reversed(keys)][::-1]  # independent of the order
    assert 0.08 < splits.count("test") / len(keys) < 0.12
    assert [split_of(key, 0.1, seed=1) for key in keys] != splits
    assert all(split_of(key, 0.0) == "train" for key in keys)
    with pytest.raises(ValueError, match="test_fraction"):
        PrepOptions("x", test_fraction=1.0)
    with pytest.raises(ValueError, match="faces"):
        PrepOptions("x", faces="some")


@pytest.mark.slow
def test_worker_processes_give_the_same_outputs(photos, tmp_path):
    folder, good, _ = photos
    one = prepare_dataset(folder, PrepOptions(str(tmp_path / "one")), workers=1, progress=False)
    two = prepare_dataset(folder, PrepOptions(str(tmp_path / "two")), workers=2, progress=False)
    assert one == two
    for key in good:
        name = f"{split_of(key, 0.1)}A/{output_name(key)}"
        first, second = (cv2.imread(str(tmp_path / run / name)) for run in ("one", "two"))
        np.testing.assert_array_equal(first, second)


def test_file_names_that_are_not_utf8_are_prepared_and_reported(astronaut, tmp_path, capsys):
    """A Latin-1 name (`café.jpg` from an old archive) neither aborts the batch nor the reports."""
    import os

    folder = tmp_path / "photos"
    write_image(folder / "anna.jpg", astronaut)
    latin1 = os.fsdecode(b"caf\xe9.jpg")  # Python's name for it: 'caf\udce9.jpg'
    write_image(folder / latin1, astronaut[:, ::-1])
    (folder / os.fsdecode(b"notiz\xfc.txt")).write_text("not a photo")
    root = tmp_path / "data"
    assert p2c(["prepare-dataset", str(folder), "-o", str(root), "--test-fraction", "0", "--quiet"]) == 0
    assert "2 written, 0 already done, 1 skipped, 0 failed" in capsys.readouterr().out
    assert sorted(os.fsencode(p.name) for p in (root / "trainA").iterdir()) == [b"anna.png", b"caf\xe9.png"]
    report = json.loads((root / "prepare_report.json").read_text(encoding="utf-8"))
    assert sorted(r["status"] for r in report["files"]) == ["skipped", "written", "written"]
    with open(root / "prepare_skipped.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["file"].rsplit("/", 1)[-1] for row in rows] == ["notiz\\xfc.txt"]
    # The split hashes the name's bytes: unchanged for UTF-8 names, defined for the others.
    assert split_of("anna", 0.5) == split_of("anna", 0.5, seed=0)
    assert split_of(os.fsdecode(b"caf\xe9"), 0.5) in ("train", "test")
    # A second run finds both photos done.
    summary = prepare_dataset(folder, PrepOptions(str(root), test_fraction=0.0), progress=False)
    assert summary["already_done"] == 2 and summary["written"] == 0
