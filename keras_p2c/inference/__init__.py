"""Photo → cartoon: the `Photo2Cartoon` predictor (`predictor`) and what it returns per photo (`results`).

    from keras_p2c.inference import Photo2Cartoon     # also `from keras_p2c import Photo2Cartoon`
"""

from keras_p2c.inference.predictor import Photo2Cartoon, unique_stems
from keras_p2c.inference.results import Cartoonization, SkippedPhoto

__all__ = ["Cartoonization", "Photo2Cartoon", "SkippedPhoto", "unique_stems"]
