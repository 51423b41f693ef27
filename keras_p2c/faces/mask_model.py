"""Obtaining the portrait-segmentation model: MediaPipe's `selfie_segmentation.tflite` (Apache-2.0).

The file ships inside the `mediapipe==0.10.21` wheel on PyPI (newer wheels carry no models), but
mediapipe itself cannot be installed beside TensorFlow 2.21 (it pins protobuf < 5 and numpy < 2). So
the wheel is only downloaded (`pip download --no-deps`) into a temporary folder and the one 250 KB
member is extracted into the keras-p2c cache (`$KERAS_P2C_HOME`, else `~/.cache/keras_p2c`),
checked against its SHA-256 and renamed into place, so the cache never holds a partial file.

The model file is identical in every platform's wheel (checked: cp311 manylinux x86_64 and cp312
macOS universal2), so when pip finds no wheel for the running interpreter or platform (e.g. a Python
mediapipe 0.10.21 was not built for) the CPython 3.11 manylinux wheel is downloaded instead.

Run `python -m keras_p2c.faces.mask_model` once after installing keras-p2c (`--wheel FILE` uses a
wheel you downloaded yourself, for machines without access to PyPI).
"""

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from keras_p2c.atomic import write_bytes_atomic
from keras_p2c.cache import cache_dir

MEDIAPIPE_VERSION = "0.10.21"
WHEEL_MEMBER = "mediapipe/modules/selfie_segmentation/selfie_segmentation.tflite"
MODEL_FILENAME = "selfie_segmentation.tflite"
MODEL_SHA256 = "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c"
FETCH_COMMAND = "python -m keras_p2c.faces.mask_model"
# A wheel that exists for mediapipe 0.10.21; used when none matches the running interpreter.
FALLBACK_WHEEL_ARGS = (
    "--only-binary=:all:",
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
)


class MaskModelError(RuntimeError):
    """The segmentation model could not be obtained or is not usable."""


def default_model_path():
    """Where the model is cached: `<cache dir>/selfie_segmentation.tflite`."""
    return cache_dir() / MODEL_FILENAME


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def is_valid_model(path):
    """True if `path` is a file with the expected SHA-256."""
    path = Path(path)
    return path.is_file() and _sha256(path.read_bytes()) == MODEL_SHA256


def _pip_download(folder, extra_args):
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
        *extra_args, f"mediapipe=={MEDIAPIPE_VERSION}", "-d", str(folder),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(Path(folder).glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
    if result.returncode == 0 and wheels:
        return wheels[0], None
    tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-5:])
    return None, f"`{' '.join(command)}` failed (exit {result.returncode}):\n{tail}"


def download_wheel(folder):
    """Download the mediapipe 0.10.21 wheel (~36 MB, no dependencies) into `folder`; return its path."""
    wheel, first_error = _pip_download(folder, ())
    if wheel is not None:
        return wheel
    wheel, second_error = _pip_download(folder, FALLBACK_WHEEL_ARGS)
    if wheel is not None:
        return wheel
    raise MaskModelError(
        f"Could not download the mediapipe=={MEDIAPIPE_VERSION} wheel that contains the portrait-segmentation "
        f"model.\n{first_error}\n{second_error}\nDownload any mediapipe-{MEDIAPIPE_VERSION} wheel from "
        f"https://pypi.org/project/mediapipe/{MEDIAPIPE_VERSION}/#files yourself and run "
        f"`{FETCH_COMMAND} --wheel PATH_TO_WHEEL`."
    )


def extract_model(wheel):
    """The model's bytes from a mediapipe wheel, checked against the expected SHA-256."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(WHEEL_MEMBER)
    except KeyError:
        raise MaskModelError(
            f"{wheel} does not contain {WHEEL_MEMBER}; use a mediapipe=={MEDIAPIPE_VERSION} wheel."
        ) from None
    except (OSError, zipfile.BadZipFile) as error:
        raise MaskModelError(f"{wheel} is not a readable wheel (zip) file: {error}.") from error
    digest = _sha256(data)
    if digest != MODEL_SHA256:
        raise MaskModelError(
            f"{WHEEL_MEMBER} in {wheel} has SHA-256 {digest}, expected {MODEL_SHA256}; use the "
            f"mediapipe=={MEDIAPIPE_VERSION} wheel from PyPI."
        )
    return data


def fetch_mask_model(dest=None, wheel=None, force=False):
    """Make sure the portrait-segmentation model is on disk; return its path.

    Args:
        dest: destination file; `None` means `default_model_path()`.
        wheel: path of a mediapipe 0.10.21 wheel already downloaded; `None` downloads one with pip
            into a temporary folder (deleted afterwards).
        force: fetch again even if a valid file is already there.

    Returns:
        `pathlib.Path` of the model file.

    Raises:
        MaskModelError: pip failed, or the wheel lacks the file or has a different one.
    """
    dest = Path(dest).expanduser() if dest is not None else default_model_path()
    if not force and is_valid_model(dest):
        return dest
    if wheel is not None:
        data = extract_model(Path(wheel).expanduser())
    else:
        with tempfile.TemporaryDirectory(prefix="keras_p2c_mediapipe_") as folder:
            data = extract_model(download_wheel(folder))
    write_bytes_atomic(dest, data)
    return dest


def resolve_model_path(path=None):
    """The model file to load: `path`, or the cached one; a clear error if it is missing."""
    path = Path(path).expanduser() if path is not None else default_model_path()
    if not path.is_file():
        raise MaskModelError(
            f"The portrait-segmentation model {path} is missing. Fetch it once with `{FETCH_COMMAND}`"
            + (f" --dest {path}" if path != default_model_path() else "")
            + " (it downloads the mediapipe wheel with pip and keeps only the 250 KB model), "
            "or pass mask=None to skip segmentation."
        )
    return path


def main(argv=None):
    """Command line: fetch the model and print its path."""
    parser = argparse.ArgumentParser(
        prog=FETCH_COMMAND, description="Fetch the portrait-segmentation model (MediaPipe selfie segmentation)."
    )
    parser.add_argument("--dest", help=f"destination file (default: {default_model_path()})")
    parser.add_argument("--wheel", help=f"use this mediapipe-{MEDIAPIPE_VERSION} wheel instead of downloading one")
    parser.add_argument("--force", action="store_true", help="fetch again even if the file is already there")
    args = parser.parse_args(argv)
    dest = Path(args.dest).expanduser() if args.dest else default_model_path()
    if args.wheel is None and (args.force or not is_valid_model(dest)):
        print(f"Downloading mediapipe=={MEDIAPIPE_VERSION} (~36 MB) for its segmentation model...", file=sys.stderr)
    try:
        path = fetch_mask_model(dest, wheel=args.wheel, force=args.force)
    except MaskModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
