"""`make_predictor`: a `Photo2Cartoon` on the session's small generator (tests/conftest.py)."""

import pytest


@pytest.fixture
def make_predictor(small_generator, request):
    """`make_predictor(**options)`: a `Photo2Cartoon` on the shared small generator (masked unless segmenter=None)."""
    from keras_p2c import Photo2Cartoon

    def make(**options):
        if "segmenter" not in options:
            options["segmenter"] = request.getfixturevalue("segmenter")
        return Photo2Cartoon(weights=small_generator, **options)

    return make
