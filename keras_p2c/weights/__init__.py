"""Checkpoint readers (PyTorch `.pt`, Paddle `.pdparams`, no framework needed) and weight download."""

from keras_p2c.weights.checkpoint import detect_format, read_checkpoint
from keras_p2c.weights.download import DownloadError, download
from keras_p2c.weights.paddle_checkpoint import read_paddle_params
from keras_p2c.weights.safe_unpickler import CheckpointError, UnsafeCheckpointError
from keras_p2c.weights.torch_checkpoint import read_torch_checkpoint
