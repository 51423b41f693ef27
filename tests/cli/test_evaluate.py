"""`p2c evaluate`: the report from the command line, one line on bad input."""

import json

import cv2
import numpy as np

from keras_p2c.cli.main import main as p2c
from keras_p2c.evaluation.features import MIN_INPUT_SIZE, InceptionFeatures


def smooth_images(count, size=64, seed=0):
    rng = np.random.default_rng(seed)
    return [cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 3) for _ in range(count)]


def _write(folder, images, suffix=""):
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        cv2.imwrite(str(folder / f"img{index}{suffix}.png"), image)


def test_evaluate_writes_the_report_and_prints_the_figures(tmp_path, capsys):
    weights = tmp_path / "inception.weights.h5"  # random weights: tests the plumbing, not the figures
    InceptionFeatures(weights=None, input_size=MIN_INPUT_SIZE).model.save_weights(weights)
    _write(tmp_path / "generated", smooth_images(6, seed=1), "_cartoon")
    _write(tmp_path / "real", smooth_images(6, seed=2))
    code = p2c([
        "evaluate", str(tmp_path / "generated"), str(tmp_path / "real"), "--inception-weights", str(weights),
        "--input-size", "75", "--kid-subsets", "5", "-o", str(tmp_path / "out"), "--quiet",
    ])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert out.startswith("p2c evaluate: FID ") and "KID" in out and "report.json" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["fid"] > 0 and report["kid"]["subsets"] == 5 and report["identity_similarity"] is None


def test_evaluate_reports_a_missing_folder_in_one_line(tmp_path, capsys):
    assert p2c(["evaluate", str(tmp_path / "nope"), str(tmp_path / "real"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("p2c evaluate:") and "\n" not in err and "nope" in err
