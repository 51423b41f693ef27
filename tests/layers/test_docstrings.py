"""The examples in the layers' docstrings run and print what they say."""

import doctest

import keras
import numpy as np
import pytest

from keras_p2c import layers

CLASSES = [getattr(layers, name) for name in sorted(dir(layers)) if isinstance(getattr(layers, name), type)]
LAYERS = [cls for cls in CLASSES if issubclass(cls, keras.layers.Layer)]


@pytest.mark.parametrize("cls", LAYERS, ids=lambda cls: cls.__name__)
def test_docstring_example_runs(cls):
    assert ">>>" in cls.__doc__, f"{cls.__name__} has no example"
    globs = {"np": np, "keras": keras, **{c.__name__: c for c in CLASSES}}
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in finder.find(cls, cls.__name__, globs=globs):
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing example lines in {cls.__name__}'s docstring"


@pytest.mark.parametrize("cls", LAYERS, ids=lambda cls: cls.__name__)
def test_docstring_has_the_keras_sections(cls):
    summary, _, body = cls.__doc__.partition("\n")
    assert summary.strip() and body.startswith("\n"), "one summary line, then a blank line"
    for section in ("Input shape:", "Output shape:", "Example:"):
        assert section in body, section
