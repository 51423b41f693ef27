"""Serving the generator: export (SavedModel for TF Serving, LiteRT, ONNX), and TF Serving's REST API over
the SavedModel (version registry, server, request codec, the full-photo signature, a client), with TF
Serving's operations: config files (`config_files`), warm-up (`warmup`), request batching (`batching`) and
Prometheus metrics (`metrics`).

TensorFlow, FastAPI and uvicorn load only in the modules that need them; `Client` needs none of them.
"""

from keras_p2c.serving.client import Client, ServingError
from keras_p2c.serving.export import export_file, export_generator, list_versions

__all__ = ["Client", "ServingError", "export_file", "export_generator", "list_versions"]
