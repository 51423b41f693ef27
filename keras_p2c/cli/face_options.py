"""Face-preparation options that several `p2c` commands share (`cartoonize`, `prepare-dataset`)."""

# NumPy + OpenCV only (dlib is imported when dlib68 is used): the commands' --help stays fast.
from keras_p2c.faces.landmarks import LANDMARK_MODELS


def add_landmarks_argument(parser):
    """`--landmarks mtcnn5|dlib68`: which points the face crop is made from."""
    parser.add_argument(
        "--landmarks",
        choices=LANDMARK_MODELS,
        default="mtcnn5",
        help="mtcnn5: MTCNN's five points, the reference crop estimated from them (default); dlib68: the same "
        'faces with dlib\'s 68 landmarks, the reference\'s exact crop (pip install "keras-p2c[landmarks]")',
    )
