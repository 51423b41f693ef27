"""The package's lazy public API."""

import subprocess
import sys

import keras_p2c.evaluation as evaluation


def test_every_public_name_resolves():
    assert evaluation.__all__ == sorted(evaluation.__all__)
    for name in evaluation.__all__:
        assert getattr(evaluation, name) is not None, name


def test_the_formulas_import_without_keras():
    code = "import sys, keras_p2c.evaluation as e; e.fid; print('keras' in sys.modules)"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "False"
