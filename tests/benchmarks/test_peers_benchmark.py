"""`p2c benchmark --what peers`: the JSON's structure, every float32 runtime's image against Keras', the machine record.

No times are checked: only that each runtime ran, computed the same function, and was reported.
"""

import functools
import json

import pytest

from keras_p2c.benchmarks import peers
from keras_p2c.benchmarks.timing import INSTRUCTION_SETS, cpu_record
from tests.benchmarks.test_benchmark_script import _only_result, _run_script

# The runtimes that need our ONNX export: tf2onnx takes minutes to convert the generator (slow test below).
ONNX_EXPORT = ("openvino_float32", "onnxruntime_keras_export", "openvino_bf16")
ALL = (
    "torch_eager", "reference_onnx_onnxruntime", "torch_eager_bf16", "photo2cartoon_generate", "photo2cartoon_auto",
    "serve_auto", "savedmodel_predict_images", "keras_tf_function", "keras_eager_call", *ONNX_EXPORT, "keras_mixed_bfloat16",
)  # fmt: skip


def _check(result, selected, size):
    assert result["figure"] == "cpu_runtimes_vs_peers" and result["size"] == size and result["batches"] == [1, 2]
    runtimes = result["runtimes"]
    assert set(runtimes) == set(ALL)
    for name, entry in runtimes.items():
        assert "failed" not in entry, (name, entry)
        if name not in selected:
            assert entry["skipped"] == "not selected"
        elif entry["precision"] == "bf16" and not result["bf16_units"]:
            assert "bf16 units" in entry["skipped"]
    measured = {name: entry for name, entry in runtimes.items() if "batches" in entry}
    for name, entry in measured.items():
        assert set(entry["batches"]) == {"1", "2"} and entry["best_batch"] in (1, 2), name
        for figures in entry["batches"].values():
            assert 0 < figures["min_s_per_image"] <= figures["median_s_per_image"], name
        assert len(result["all_s"][f"{name}/1"]) == result["repeats"]
        if entry["precision"] == "float32":
            difference = max(entry["max_abs_difference"], entry["photo_max_abs_difference"])
            assert entry["accepted"] == (difference <= result["float32_atol"] == 1e-4), (name, entry)
            # The function is the same in every runtime. Measured (AVX-512): ≤ 3e-5 at 64², ngf 8, except OpenVINO's
            # float32 at 256², ngf 8, 1 block: 4.3e-4 (4.0e-5 at ngf 32, 4 blocks; 1.4e-4 on the reference's ONNX at
            # ngf 8), so OpenVINO is held to 1e-3 here and the JSON says whether it met the 1e-4.
            on_openvino = name.startswith("openvino") or entry.get("chosen", "").startswith("openvino")
            assert difference <= (1e-3 if on_openvino else 1e-4), (name, entry)
        else:
            # bf16 against float32 on the astronaut: a real difference, and its PSNR judged against the floor.
            assert entry["max_abs_difference"] > 1e-4 and entry["photo_psnr_db"] > 20, (name, entry)
            assert entry["accepted"] == (entry["photo_psnr_db"] >= result["psnr_floor_db"])
    assert measured["photo2cartoon_generate"]["max_abs_difference"] == 0  # the reference of the comparison
    peer = result["best_peer"]["batch_1"]["runtime"]
    assert runtimes[peer]["group"] == "peer"
    ours = {name for name, entry in measured.items() if entry["group"] == "ours"}
    assert set(result["speedup_vs_best_peer"]) == ours
    for name, ratios in result["speedup_vs_best_peer"].items():
        expected = result["best_peer"]["batch_1"]["s_per_image"] / measured[name]["batches"]["1"]["min_s_per_image"]
        assert ratios["batch_1"] == pytest.approx(expected) and ratios["best_batch"] > 0
    assert json.dumps(result)


def test_the_script_measures_every_runtime_against_the_reference(tmp_path, monkeypatch):
    pytest.importorskip("torch", reason="the reference generator (test extra)")
    # The slow test has the rest (torch's bf16 and the tf.function are the paths of those measured here).
    selected = ["torch_eager", "reference_onnx_onnxruntime", "photo2cartoon_generate", "keras_eager_call"]
    selected += ["savedmodel_predict_images", "keras_mixed_bfloat16"]
    # Small: 64², ngf 8, 2 blocks, one thread for torch (two threads on a loaded 2-core machine take 10× longer).
    # The SavedModel signature takes 256² only, so it reports itself skipped here.
    options = dict(ngf=8, n_blocks=2, batches=(1, 2), only=selected, threads=1)
    monkeypatch.setattr(peers, "run", functools.partial(peers.run, **options))
    _run_script(["--what", "peers", "--size", "64", "--repeats", "1", "--output-dir", str(tmp_path)], monkeypatch)
    result = _only_result(tmp_path)
    assert "256" in result["runtimes"]["savedmodel_predict_images"]["skipped"]
    _check(result, selected, 64)
    assert {"torch_eager", "reference_onnx_onnxruntime", "keras_eager_call"} <= {
        name for name, entry in result["runtimes"].items() if "batches" in entry
    }
    machine = result["machine"]
    assert machine["cpu_model"] and set(machine["instruction_sets"]) == set(INSTRUCTION_SETS)
    assert len(machine["load_average"]["start"]) == len(machine["load_average"]["end"]) == 3


@pytest.mark.slow  # tf2onnx converts the generator in minutes
def test_every_runtime_at_256(tmp_path):
    pytest.importorskip("torch", reason="the reference generator (test extra)")
    pytest.importorskip("openvino", reason="OpenVINO (test extra)")
    result = peers.run(size=256, ngf=8, n_blocks=1, repeats=1, batches=(1, 2))
    _check(result, ALL, 256)
    assert all("batches" in result["runtimes"][name] for name in ALL if result["runtimes"][name]["precision"] == "float32")


def test_cpu_record_reads_the_first_processor(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 fma avx512f amx_bf16\n\n"
        "processor\t: 1\nmodel name\t: Other\nflags\t\t: fpu\n"
    )
    record = cpu_record(cpuinfo)
    assert record["cpu_model"] == "Some CPU"
    assert {name for name, present in record["instruction_sets"].items() if present} == {"avx2", "fma", "avx512f", "amx_bf16"}
    assert cpu_record(tmp_path / "absent")["instruction_sets"] is None
