"""`evaluate`: folders in, figures, `report.json` and `pairs.png` out; pairing photos with cartoons by name."""

import json
from pathlib import Path

import numpy as np
import pytest

from keras_p2c.evaluation.report import (
    EvaluationError,
    default_kid_subset_size,
    evaluate,
    list_images,
    pair_files,
    pairs_sheet,
    tagged_key,
)
from keras_p2c.images import read_image, write_image_atomic
from tests.evaluation.conftest import smooth_images

NAMES = ["anna", "bob", "carl", "dora", "emil", "fay"]
OUTPUTS = {"pairs": "pairs.png", "report": "report.json"}


def test_tagged_keys_drop_one_trailing_tag_and_keep_the_number():
    assert tagged_key("sub/anna_cartoon") == ("sub/anna", "cartoon")
    assert tagged_key("anna_cartoon_1") == ("anna_1", "cartoon")
    assert tagged_key("anna_aligned_2") == ("anna_2", "aligned")
    assert tagged_key("p2c_photo") == ("p2c", "photo")
    assert tagged_key("anna_pasted") == ("anna_pasted", None)
    assert tagged_key("anna") == ("anna", None)
    assert tagged_key("_cartoon") == ("_cartoon", None)


def test_photos_pair_with_cartoons_by_key():
    photos = [("anna", Path("p/anna.jpg")), ("bob", Path("p/bob.png")), ("bob", Path("p/bob.jpg"))]
    cartoons = [("bob", Path("g/bob_cartoon.png")), ("anna", Path("g/anna_cartoon.png")), ("zoe", Path("g/zoe.png"))]
    pairs, unpaired_photos, unpaired_cartoons = pair_files(photos, cartoons)
    assert [(p.key, p.photo.name, p.cartoon.name) for p in pairs] == [
        ("bob", "bob.png", "bob_cartoon.png"),
        ("anna", "anna.jpg", "anna_cartoon.png"),
    ]
    assert unpaired_photos == [Path("p/bob.jpg")] and unpaired_cartoons == [Path("g/zoe.png")]


def test_default_kid_subset_size():
    assert default_kid_subset_size(6, 8) == 3
    assert default_kid_subset_size(3, 100) == 2
    assert default_kid_subset_size(5000, 3000) == 1000


def test_pairs_sheet_lays_out_titled_columns():
    image = smooth_images(1, size=40)[0]
    sheet = pairs_sheet([("best", [(image, image, 0.9, "a")] * 2), ("worst", [(image, image, 0.1, "b")])], tile=32)
    assert sheet.dtype == np.uint8 and sheet.shape == (28 + 2 * (20 + 32 + 4) + 16, 16 + 2 * (2 * 32 + 4 + 16), 3)
    assert sheet.min() < 128  # text and images were drawn on the white sheet


@pytest.fixture
def folders(tmp_path):
    """`out/` as `p2c cartoonize --save-aligned` leaves it (cartoons, aligned photos, a pasted image, a note),
    and `real/` cartoons with one corrupt file."""
    out, real = tmp_path / "out", tmp_path / "real"
    photos = smooth_images(len(NAMES), size=256, seed=10)
    cartoons = smooth_images(len(NAMES), size=256, seed=11)
    for name, photo, cartoon in zip(NAMES, photos, cartoons):
        write_image_atomic(out / f"{name}_aligned.png", photo)
        write_image_atomic(out / f"{name}_cartoon.png", cartoon)
    write_image_atomic(out / "anna_cartoon_1.png", cartoons[0])  # a second face without its aligned crop
    write_image_atomic(out / "anna_pasted.png", photos[0])
    (out / "notes.txt").write_text("not an image")
    for index, image in enumerate(smooth_images(8, size=96, seed=12)):
        write_image_atomic(real / f"{index:02d}.jpg", image)
    (real / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return out, real


def test_list_images_takes_the_tagged_files_when_there_are_any(folders):
    out, real = folders
    files, ignored, skipped = list_images(out, ("cartoon",))
    assert [key for key, _ in files] == ["anna", "anna_1", "bob", "carl", "dora", "emil", "fay"]
    assert sorted(path.name for path in ignored) == sorted(["anna_pasted.png"] + [f"{n}_aligned.png" for n in NAMES])
    assert [name for name, _ in skipped] == [str(out / "notes.txt")]
    assert len(list_images(real)[0]) == 9


def test_evaluate_writes_the_report_and_the_sheet(folders, tmp_path, inception, face_id):
    out, real = folders
    report = evaluate(
        out, real, photos_dir=out, face_id_weights=face_id, inception_weights=inception,
        output_dir=tmp_path / "eval", batch_size=4, progress=False, kid_subsets=10,
    )  # fmt: skip
    written = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert written == json.loads(json.dumps(report))
    assert report["fid"] > 0 and np.isfinite(report["fid"])
    assert report["kid"]["standard_error"] > 0 and report["kid"]["subsets"] == 10
    assert report["kid"]["subset_size"] == 3  # half the 7 generated cartoons
    assert report["counts"] == {
        "generated": 7, "real": 8, "photos": 6, "pairs": 6, "skipped": 2, "ignored_generated": 1, "ignored_photos": 1,
    }  # fmt: skip
    assert {entry["file"] for entry in report["skipped"]} == {str(out / "notes.txt"), str(real / "broken.png")}
    assert report["ignored"] == {"generated": [str(out / "anna_pasted.png")], "photos": [str(out / "anna_pasted.png")]}
    identity = report["identity_similarity"]
    assert [pair["key"] for pair in identity["pairs"]] == NAMES
    scores = [pair["score"] for pair in identity["pairs"]]
    assert identity["mean"] == pytest.approx(np.mean(scores)) and all(-1 <= s < 0.99 for s in scores)
    assert identity["pairs"][0] == {
        "key": "anna", "photo": str(out / "anna_aligned.png"), "cartoon": str(out / "anna_cartoon.png"),
        "score": scores[0],
    }  # fmt: skip
    assert identity["unpaired_cartoons"] == [str(out / "anna_cartoon_1.png")] and identity["unpaired_photos"] == []
    assert report["settings"]["inception_input_size"] == 75 and report["settings"]["feature_size"] == 2048
    assert report["settings"]["inception_weights"].startswith("random")
    assert report["notes"] and "biased" in report["notes"][0]
    sheet = read_image(tmp_path / "eval" / "pairs.png")
    assert sheet.shape == (28 + 3 * (20 + 128 + 4) + 16, 16 + 2 * (2 * 128 + 4 + 16), 3)
    assert report["outputs"] == {name: str(tmp_path / "eval" / file) for name, file in OUTPUTS.items()}


def test_identical_photos_and_cartoons_score_one(folders, tmp_path, inception, face_id):
    out, real = folders
    report = evaluate(
        real, real, photos_dir=real, face_id_weights=face_id, inception_weights=inception, progress=False,
        kid_subsets=5,
    )
    features = inception.features([read_image(path) for path in sorted(real.glob("*.jpg"))], progress=False)
    assert report["fid"] <= 1e-6 * np.sum(np.var(features.astype("float64"), axis=0, ddof=1))
    assert report["identity_similarity"]["mean"] == pytest.approx(1.0, abs=1e-5)
    assert report["outputs"] == {} and not list(tmp_path.glob("**/report.json"))


def test_without_photos_there_is_no_identity_and_no_sheet(folders, tmp_path, inception):
    out, real = folders
    report = evaluate(
        out, real, inception_weights=inception, output_dir=tmp_path / "eval", progress=False, kid_subsets=5
    )
    assert report["identity_similarity"] is None and "pairs" not in report["outputs"]
    assert (tmp_path / "eval" / "report.json").is_file() and not (tmp_path / "eval" / "pairs.png").exists()


def test_evaluate_errors_name_the_folder_and_what_to_do(folders, tmp_path, inception, face_id):
    out, real = folders
    with pytest.raises(EvaluationError, match="face_id_weights .* is missing"):
        evaluate(out, real, photos_dir=out, inception_weights=inception)
    with pytest.raises(EvaluationError, match="nowhere: no such folder \\(expected the real cartoons\\)"):
        evaluate(out, tmp_path / "nowhere", inception_weights=inception)
    single = tmp_path / "single"
    write_image_atomic(single / "a.png", smooth_images(1)[0])
    with pytest.raises(EvaluationError, match="single: 1 readable generated cartoons; FID and KID need at least 2"):
        evaluate(single, real, inception_weights=inception)
    strangers = tmp_path / "strangers"
    for index, image in enumerate(smooth_images(2)):
        write_image_atomic(strangers / f"x{index}.png", image)
    with pytest.raises(EvaluationError, match="strangers: no photo pairs with a cartoon .* by name"):
        evaluate(out, real, photos_dir=strangers, face_id_weights=face_id, inception_weights=inception, progress=False)
