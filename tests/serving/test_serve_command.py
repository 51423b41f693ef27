"""`p2c serve` as a process: options and config-file errors, and a graceful stop on SIGTERM."""

import base64
import json
import shutil
import signal
import threading
import time
import urllib.request

import numpy as np
import pytest

from keras_p2c.benchmarks.serve import metric_sum, scrape, server_output, start_server, stop_server
from keras_p2c.cli.main import main
from tests.helpers.serving import decode_png, face_like_png


def _config(tmp_path, body):
    path = tmp_path / "models.config"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    "args, code, fragment",
    [
        ([], 2, "give model folders or --model-config-file"),
        (["somewhere", "--model-config-file", "x.config"], 2, "one of the two"),
        (["--model_config_file", "absent.config"], 1, "absent.config: no such model config file"),
        (["MODEL", "--max-batch-size", "4"], 1, "--max-batch-size needs --enable-batching"),
        (["MODEL", "--enable-batching", "--max-batch-size", "0"], 1, "max_batch_size must be at least 1"),
    ],
)
def test_option_errors(exported, tmp_path, capsys, args, code, fragment):
    _, model_dir = exported
    args = [str(model_dir) if a == "MODEL" else str(tmp_path / a) if a.endswith(".config") else a for a in args]
    assert main(["serve", *args]) == code
    assert fragment.replace("`", "") in capsys.readouterr().err.replace("`", "")


def test_config_file_errors_name_the_file_and_line(tmp_path, capsys):
    path = _config(tmp_path, 'model_config_list {\n  config {\n    name: "m"\n    base_pth: "/x"\n  }\n}\n')
    assert main(["serve", "--model-config-file", str(path)]) == 1
    assert f"{path}:4:5:" in capsys.readouterr().err

    (tmp_path / "empty").mkdir()
    path = _config(tmp_path, f'model_config_list {{\n  config {{ name: "m" base_path: "{tmp_path / "empty"}" }}\n}}\n')
    assert main(["serve", "--model-config-file", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}:2:" in err and "no numeric version folder" in err

    path = tmp_path / "batching.config"
    path.write_text("max_batch_size { value: 4 }\nmax_batch_sise { value: 4 }\n")
    assert main(["serve", str(tmp_path), "--batching-parameters-file", str(path)]) == 1
    assert f"{path}:2:1:" in capsys.readouterr().err


def test_two_models_from_a_config_file_and_sigterm_lets_the_request_in_flight_finish(exported, tmp_path):
    _, shared = exported
    for name in ("first", "second"):
        shutil.copytree(shared, tmp_path / name)
    config = _config(
        tmp_path,
        "model_config_list {\n"
        f'  config {{ name: "first" base_path: "{tmp_path / "first"}" version_labels {{ key: "stable" value: 1 }} }}\n'
        f'  config {{ name: "second" base_path: "{tmp_path / "second"}" model_platform: "tensorflow" }}\n'
        "}\n",
    )
    # A 4 s wait for company holds the request in the batch queue: in flight for sure when SIGTERM comes.
    batching = tmp_path / "batching.config"
    batching.write_text("max_batch_size { value: 4 }\nbatch_timeout_micros { value: 4000000 }\n")
    args = ["--model_config_file", str(config), "--batching_parameters_file", str(batching), "--no-warmup"]
    process, url = start_server(extra_args=args, name="second")
    try:
        with urllib.request.urlopen(f"{url}/v1/models/first/labels/stable", timeout=30) as response:
            assert json.loads(response.read())["model_version_status"][0]["version"] == "1"
        png, _ = face_like_png(64, 64, seed=5)
        body = json.dumps({"instances": [{"b64": base64.b64encode(png).decode()}]}).encode()
        answer = {}

        def in_flight():
            request = urllib.request.Request(f"{url}/v1/models/second:predict", data=body, method="POST")
            with urllib.request.urlopen(request, timeout=120) as response:
                answer.update(status=response.status, body=json.loads(response.read()))

        thread = threading.Thread(target=in_flight)
        thread.start()
        deadline = time.time() + 60
        while metric_sum(scrape(url), "p2c_serving_requests_in_flight", model_name="second") < 1:
            assert time.time() < deadline, "the request never reached the server"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        thread.join(120)
        assert answer.get("status") == 200, server_output(process)
        cartoon = decode_png(base64.b64decode(answer["body"]["predictions"][0]["b64"]))
        assert cartoon.shape == (256, 256, 3) and np.ptp(cartoon) > 0
        assert process.wait(60) == 0, server_output(process)
        assert "Traceback" not in server_output(process)
    finally:
        if process.poll() is None:
            stop_server(process)
