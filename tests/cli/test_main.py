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
