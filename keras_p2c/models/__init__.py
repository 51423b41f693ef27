"""Photo2Cartoon networks."""

from keras_p2c.models.generator import Generator
