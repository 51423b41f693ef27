"""`p2c benchmark --what landmarks`: the crop measures, and the JSON the script writes."""

import json
import types

import numpy as np
import pytest

from keras_p2c.benchmarks import landmarks
from keras_p2c.faces.crop import CropBox
from tests.benchmarks.test_benchmark_script import _only_result, _run_script


def _crop(box, angle=0.0):
    cos, sin = np.cos(angle), np.sin(angle)
    return types.SimpleNamespace(crop_box=box, matrix=np.array([[cos, sin, 0.0], [-sin, cos, 0.0]]))


def test_crop_measures_by_hand():
    reference = _crop(CropBox(0, 99, 0, 99))
    same = landmarks.compare_crops(reference, reference)
    assert same == pytest.approx({"corner_px": 0, "centre_px": 0, "iou": 1, "scale": 1, "angle_deg": 0}, abs=1e-9)
    # 10 px lower in a 100 px crop: 25.6 px of the 256² input at every corner; overlap 90 of 110 rows.
    lower = landmarks.compare_crops(_crop(CropBox(10, 109, 0, 99)), reference)
    assert lower == pytest.approx({"corner_px": 25.6, "centre_px": 25.6, "iou": 90 / 110, "scale": 1, "angle_deg": 0})
    # Twice the side about the same top left corner: corners 0, 256, 256·√2 and 256 px away.
    larger = landmarks.compare_crops(_crop(CropBox(0, 199, 0, 199)), reference)
    assert larger["corner_px"] == pytest.approx(256 * (2 + np.sqrt(2)) / 4, abs=0.01)
    assert larger["iou"] == pytest.approx(0.25) and larger["scale"] == 2
    assert landmarks.compare_crops(_crop(CropBox(0, 99, 0, 99), np.radians(3)), reference)["angle_deg"] == pytest.approx(3)


def test_the_script_writes_the_distances_per_photo_and_group(tmp_path, monkeypatch, astronaut, two_faces):
    pytest.importorskip("dlib", reason="the [landmarks] extra (installed with [test] in CI)")
    small = {"astronaut_variants": {"original": astronaut}, "other_photos": {"astronaut_and_mirror": two_faces}}
    monkeypatch.setattr(landmarks, "photos", lambda: small)  # the full set (117 photos) takes minutes
    _run_script(["--what", "landmarks", "--output-dir", str(tmp_path)], monkeypatch)
    result = _only_result(tmp_path)
    assert result["figure"] == "landmark_crops" and set(result["groups"]) == set(small)
    assert result["groups"]["other_photos"]["detection"]["faces_mtcnn"] == 2
    assert sorted(result["photos"]) == ["astronaut_variants/original", "other_photos/astronaut_and_mirror"]
    crops = result["all"]["mtcnn5_vs_dlib68"]
    assert crops["corner_px"]["n"] == 3
    # The 5-point estimate is close to the 68-point crop on this photo (measured: corners 4-5 px of 256).
    assert 0 < crops["corner_px"]["max"] < 0.1 * 256 and crops["iou"]["min"] > 0.85
    assert json.dumps(result)  # plain JSON types all the way down
