"""scripts/benchmark.py writes one JSON per workload with the figure, timings and the machine record."""

import json
import runpy
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "benchmark.py"


def _run_script(argv, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), *argv])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert exit_info.value.code == 0


def _only_result(output_dir):
    results = list(Path(output_dir).glob("*.json"))
    assert len(results) == 1, results
    return json.loads(results[0].read_text())


def test_generator_workload_writes_json(tmp_path, monkeypatch):
    _run_script(["--what", "generator", "--size", "64", "--repeats", "2", "--output-dir", str(tmp_path)], monkeypatch)
    result = _only_result(tmp_path)
    assert result["figure"] == "generator_forward" and result["size"] == 64 and result["batch"] == 1
    assert len(result["all_s"]) == 2 and 0 < result["min_s"] <= result["median_s"]
    assert result["images_per_s"] == pytest.approx(1 / result["min_s"])
    assert result["machine"]["backend"] == "tensorflow" and result["machine"]["cpu_count"] >= 1
    assert not list(tmp_path.glob("*.tmp")), "results are renamed into place"


@pytest.mark.slow
def test_train_workload_runs_the_full_step(tmp_path, monkeypatch):
    # 96 px is the smallest size the 7-layer global discriminators take; the graph is the full one.
    _run_script(["--what", "train", "--size", "96", "--repeats", "1", "--output-dir", str(tmp_path)], monkeypatch)
    result = _only_result(tmp_path)
    assert result["figure"] == "train_step" and result["face_id"] is True
    assert result["compile_s"] > result["min_s"] > 0
    assert result["first_step_s"] == pytest.approx(result["build_s"] + result["compile_s"])
    assert result["image_pairs_per_s"] == pytest.approx(1 / result["min_s"])
    # The reference iteration timed in the same run, its steps between ours.
    reference = result["reference"]
    assert reference["first_step_s"] > 0 and len(reference["all_s"]) == result["repeats"] == 1
    assert result["step_ratio_to_reference"] == pytest.approx(result["min_s"] / reference["min_s"])


@pytest.mark.slow
def test_train_parts_workload_adds_up_the_step(tmp_path, monkeypatch):
    _run_script(["--what", "train_parts", "--size", "96", "--repeats", "1", "--output-dir", str(tmp_path)], monkeypatch)
    result = _only_result(tmp_path)
    assert set(result["parts_min_s"]) == set(result["step_counts"])
    assert all(seconds > 0 for seconds in result["parts_min_s"].values())
    assert sum(result["share"].values()) == pytest.approx(1.0)


def test_roofline_workload_gives_rates_and_the_generator_bound(tmp_path, monkeypatch):
    from keras_p2c.benchmarks import roofline

    monkeypatch.setattr(roofline, "MATRIX_SIZE", 256)  # the shape, not the speed, is under test
    _run_script(["--what", "roofline", "--repeats", "1", "--output-dir", str(tmp_path)], monkeypatch)
    result = _only_result(tmp_path)
    rates = {key: value for key, value in result.items() if key.endswith("_gflops")}
    assert len(rates) == 1 + len(roofline.CONVOLUTIONS) and all(rate > 0 for rate in rates.values())
    assert result["matmul_size"] == 256
    assert result["generator_lower_bound_s"] == pytest.approx(roofline.GENERATOR_GFLOP / result["matmul_gflops"])
