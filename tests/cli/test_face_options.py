"""The face options `p2c cartoonize` and `p2c prepare-dataset` share."""

import argparse

import pytest

from keras_p2c.cli.face_options import add_detect_size_argument, add_landmarks_argument, detect_size
from keras_p2c.faces import DetectionOptions


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_detect_size_argument(parser)
    add_landmarks_argument(parser)
    return parser.parse_args(argv)


def test_detect_size_default_zero_and_bad_values():
    assert detect_size(parse()) == DetectionOptions().max_side == 640
    assert detect_size(parse("--detect-size", "1280")) == 1280
    assert detect_size(parse("--detect-size", "0")) is None  # the photo itself
    with pytest.raises(ValueError, match="at least 32"):
        DetectionOptions(max_side=detect_size(parse("--detect-size", "-5")))
    assert parse("--landmarks", "dlib68").landmarks == "dlib68"
