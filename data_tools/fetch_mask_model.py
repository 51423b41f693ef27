"""Fetches the portrait-segmentation model (MediaPipe selfie segmentation) into the keras-p2c cache.

    python data_tools/fetch_mask_model.py [--dest FILE] [--wheel mediapipe-0.10.21-....whl] [--force]

Same as `python -m keras_p2c.faces.mask_model`; see keras_p2c/faces/mask_model.py.
"""

import sys

from keras_p2c.faces.mask_model import main

if __name__ == "__main__":
    sys.exit(main())
