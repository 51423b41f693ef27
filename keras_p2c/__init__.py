"""keras-p2c: portrait photo → cartoon (Photo2Cartoon / U-GAT-IT) in Keras 3."""

__version__ = "0.1.0"
