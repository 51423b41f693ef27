"""Face-preparation options that several `p2c` commands share (`cartoonize`, `prepare-dataset`)."""

# NumPy + OpenCV only (dlib is imported when dlib68 is used): the commands' --help stays fast.
from keras_p2c.faces.detect import DEFAULT_MAX_SIDE
from keras_p2c.faces.landmarks import LANDMARK_MODELS


def add_detect_size_argument(parser):
    """`--detect-size N`: faces are detected on a copy at most N pixels on its longer side (0: the photo itself)."""
    parser.add_argument(
        "--detect-size",
        type=int,
        default=DEFAULT_MAX_SIDE,
        help=f"detect faces on a copy at most this many pixels wide/high (default {DEFAULT_MAX_SIDE}; 0: the photo "
        "itself); raise it for small faces in large photos",
    )


def detect_size(args):
    """The `max_side` that `--detect-size` asks for (`None`: the photo itself)."""
    return args.detect_size or None


def add_landmarks_argument(parser):
    """`--landmarks mtcnn5|dlib68`: which points the face crop is made from."""
    parser.add_argument(
        "--landmarks",
        choices=LANDMARK_MODELS,
        default="mtcnn5",
        help="mtcnn5: MTCNN's five points, the reference crop estimated from them (default); dlib68: the same "
        'faces with dlib\'s 68 landmarks, the reference\'s exact crop (pip install "keras-p2c[landmarks]")',
    )
