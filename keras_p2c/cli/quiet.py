"""TensorFlow's start-up chatter and OpenCV's decoder log kept out of `p2c`'s output (shown with `p2c --verbose`).

On a CPU machine TensorFlow's C++ side prints half a dozen lines when it is imported and when it first
looks for devices — oneDNN notes, "Could not find cuda drivers", even an `E0000 … failed call to cuInit`
that reads like a failure. Some are written before its log level is read (absl's "All log messages before
absl::InitializeLog()"), so `TF_CPP_MIN_LOG_LEVEL` alone cannot hide them: the import and the device
lookup run with the process's stderr file descriptor pointed at /dev/null, then it is restored. Python
errors raised meanwhile are printed after the restore, so nothing that matters is lost.
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def stderr_silenced():
    """File descriptor 2 → /dev/null inside (C/C++ writers included); restored on exit."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def quiet_tensorflow():
    """Sets TensorFlow's C++ log level to errors-off and imports it (and finds its devices) silently."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return
    with stderr_silenced():
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except ImportError:
            return  # the command that needs it reports the missing package itself


def quiet_opencv():
    """Turns OpenCV's log off, unless `OPENCV_LOG_LEVEL` asks for it.

    OpenCV logs `[ERROR] ... imdecode_ ...` (and libtiff's and OpenJPEG's messages) for every file it cannot
    decode, lines that name no file; the command's summary names each one and says why. The level is set in
    this process (OpenCV may have read the variable already) and the variable in the environment, for worker
    processes. (libpng's and libjpeg's own one-line warnings bypass OpenCV's log and remain.)
    """
    if "OPENCV_LOG_LEVEL" in os.environ:
        return
    os.environ["OPENCV_LOG_LEVEL"] = "SILENT"
    try:
        import cv2
    except ImportError:
        return  # the command that needs it reports the missing package itself
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
