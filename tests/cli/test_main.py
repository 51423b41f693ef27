"""`p2c` itself: every command is registered, help is fast (no TensorFlow), the scripts enter it the same way."""

import subprocess
import sys
from pathlib import Path

import pytest

from keras_p2c.cli.main import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parents[2]
# The wrappers outside the package: each is `p2c <command>` with the same arguments.
SCRIPTS = {
    "scripts/train.py": "train",
    "scripts/export.py": "export",
    "scripts/benchmark.py": "benchmark",
    "data_tools/prepare_dataset.py": "prepare-dataset",
}


def test_every_command_parses_its_arguments():
    parser = build_parser()
    args = parser.parse_args(["client", "face.jpg", "-o", "cartoon.png"])
    assert (args.command, args.url, args.model) == ("client", "http://127.0.0.1:8501", "photo2cartoon")
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([name, "--help"])
        assert exit_info.value.code == 0


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["cartoonise", "photo.jpg"])
    assert exit_info.value.code == 2 and "invalid choice: 'cartoonise'" in capsys.readouterr().err


def test_help_lists_every_command_without_importing_tensorflow():
    code = (
        "import sys\n"
        "from keras_p2c.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'p2c --help imported TensorFlow'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_scripts_are_the_commands(script):
    result = subprocess.run(
        [sys.executable, str(ROOT / script), "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: p2c {SCRIPTS[script]} ")


def _p2c(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "keras_p2c.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )


def test_version():
    from keras_p2c import __version__

    result = _p2c("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"p2c {__version__} (keras-p2c)"


def test_tensorflow_start_up_lines_are_hidden_unless_verbose(tmp_path):
    import os

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = _p2c("convert", str(bad), str(tmp_path / "out.keras"), env=env)
    # One line: the command's own error, naming the file; no "I0000 …", "E0000 … cuInit", absl notes.
    assert quiet.returncode == 1 and quiet.stderr.strip().splitlines() == [quiet.stderr.strip()], quiet.stderr
    assert quiet.stderr.startswith("p2c convert:") and str(bad) in quiet.stderr
    verbose = _p2c("--verbose", "convert", str(bad), str(tmp_path / "out.keras"), env=env)
    assert verbose.returncode == 1 and verbose.stderr.count("\n") >= quiet.stderr.count("\n")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_help_shows_the_defaults(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    parser = build_parser([command])
    sub = parser._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        if action.option_strings and action.default not in (None, False, "==SUPPRESS==") and action.help:
            assert "default" in action.help or f"(default: {action.default})" in " ".join(text.split()), action.dest


def test_benchmark_backend_is_set_before_keras_is_imported(monkeypatch):
    """`p2c benchmark --backend jax`: Keras reads KERAS_BACKEND on its first import, in the quiet TF import."""
    from keras_p2c.cli import benchmark as benchmark_command
    from keras_p2c.cli import main as main_module

    seen = {}
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")  # restored after the test: main() sets it for real

    def quiet_tensorflow():
        seen["at_import"] = main_module.os.environ.get("KERAS_BACKEND")

    monkeypatch.setattr(main_module, "quiet_tensorflow", quiet_tensorflow)
    monkeypatch.setattr(benchmark_command, "run", lambda args: 0)
    assert main(["benchmark", "--what", "train", "--backend", "jax"]) == 0
    assert seen == {"at_import": "jax"}
