"""`p2c export` → `p2c serve` (a real subprocess) → `p2c client`, as a user runs them."""

import numpy as np

from keras_p2c.benchmarks.serve import load_run, serve_subprocess
from keras_p2c.cli.main import main
from keras_p2c.serving import Client
from tests.helpers.serving import decode_png, face_like_png, keras_cartoon


def test_export_serve_client_commands(exported, tmp_path, capsys):
    generator, _ = exported
    generator.save(tmp_path / "gen.keras")
    assert main(["export", str(tmp_path / "gen.keras"), "--base-dir", str(tmp_path / "saved"), "--name", "p2c"]) == 0
    model_dir = tmp_path / "saved" / "p2c"
    assert (model_dir / "1" / "saved_model.pb").is_file()

    png, pixels = face_like_png(seed=11)
    (tmp_path / "face.png").write_bytes(png)
    with serve_subprocess(model_dir, extra_args=["--full-photo"]) as url:
        signatures = Client(url, "p2c").metadata()["metadata"]["signature_def"]["signature_def"]
        assert "cartoonize_photo" in signatures and "serving_default" in signatures
        code = main(["client", str(tmp_path / "face.png"), "-o", str(tmp_path / "out" / "cartoon.png"), "--url", url, "--model", "p2c"])
        assert code == 0
        cartoon = decode_png((tmp_path / "out" / "cartoon.png").read_bytes())
        assert np.abs(cartoon.astype(int) - keras_cartoon(generator, pixels).astype(int)).max() <= 1
        assert main(["client", str(tmp_path / "face.png"), "-o", str(tmp_path / "x.png"), "--url", url, "--model", "nope"]) == 1
        assert "404" in capsys.readouterr().err
        figures = load_run(url, "p2c", png, clients=4, requests=3)
    assert figures["errors"] == 0 and figures["requests"] == 12 and figures["p99_s"] >= figures["p50_s"] > 0


def test_export_command_needs_weights_or_random(capsys):
    assert main(["export"]) == 2
    assert "--random" in capsys.readouterr().err


def test_export_command_reports_a_missing_file(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.keras"), "--base-dir", str(tmp_path)]) == 1
    assert "missing.keras" in capsys.readouterr().err
