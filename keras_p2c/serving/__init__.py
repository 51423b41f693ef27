"""Serving the exported generator over TF Serving's REST API: server, version registry, client."""

from keras_p2c.serving.client import Client, ServingError

__all__ = ["Client", "ServingError"]
