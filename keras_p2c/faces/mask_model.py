"""Obtaining the portrait-segmentation model: MediaPipe's `selfie_segmentation.tflite` (Apache-2.0).

The file ships inside the `mediapipe==0.10.21` wheel on PyPI (newer wheels carry no models), but
mediapipe itself cannot be installed beside TensorFlow 2.21 (it pins protobuf < 5 and numpy < 2). So
the wheel is only downloaded (`pip download --no-deps`) into a temporary folder and the one 250 KB
member is extracted into the keras-p2c cache (`$KERAS_P2C_HOME`, else `~/.cache/keras_p2c`),
checked against its SHA-256 and renamed into place, so the cache never holds a partial file.

The model file is identical in every platform's wheel (checked: cp311 manylinux x86_64 and cp312
macOS universal2), so when pip finds no wheel for the running interpreter or platform (e.g. a Python
mediapipe 0.10.21 was not built for) the CPython 3.11 manylinux wheel is downloaded instead.

The model is fetched on first use of the default path (`resolve_model_path()`), like the weights.
`python -m keras_p2c.faces.mask_model` fetches it ahead of time; `--wheel FILE` uses a wheel you
downloaded yourself, for machines without access to PyPI. `$KERAS_P2C_MASK_INDEX_URL` replaces PyPI
as pip's `--index-url` (a mirror, or a loopback index in the tests).
"""

import argparse
import hashlib
import os
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
INDEX_URL_ENV = "KERAS_P2C_MASK_INDEX_URL"
WHEELS_PAGE = f"https://pypi.org/project/mediapipe/{MEDIAPIPE_VERSION}/#files"
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


def is_valid_model(path, sha256=None):
    """True if `path` is a file with the expected SHA-256 (`None`: `MODEL_SHA256`)."""
    path = Path(path)
    return path.is_file() and _sha256(path.read_bytes()) == (sha256 or MODEL_SHA256)


def _one_line(text):
    """pip's last message (without its `ERROR:` prefix) on one line, for a one-line error.

    Offline, that message is only "No matching distribution found", so a failed connection (reported in
    pip's retry warnings) is named too.
    """
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    if not lines:
        return "no output"
    last = lines[-1].removeprefix("ERROR:").strip()
    offline = any("connection" in line.lower() or "name resolution" in line.lower() for line in lines[:-1])
    return f"{last}; it could not connect to the index" if offline else last


def _pip_download(folder, extra_args):
    index_url = os.environ.get(INDEX_URL_ENV)
    command = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--quiet",
        *(("--index-url", index_url) if index_url else ()),
        *extra_args, f"mediapipe=={MEDIAPIPE_VERSION}", "-d", str(folder),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(Path(folder).glob(f"mediapipe-{MEDIAPIPE_VERSION}-*.whl"))
    if result.returncode == 0 and wheels:
        return wheels[0], None
    return None, f"pip exit {result.returncode}: {_one_line(result.stderr or result.stdout)}"


def download_wheel(folder, dest=None):
    """Download the mediapipe 0.10.21 wheel (~36 MB, no dependencies) into `folder`; return its path.

    `dest` (default: `default_model_path()`) is only named in the error message.
    """
    wheel, first_error = _pip_download(folder, ())
    if wheel is not None:
        return wheel
    wheel, second_error = _pip_download(folder, FALLBACK_WHEEL_ARGS)
    if wheel is not None:
        return wheel
    index = os.environ.get(INDEX_URL_ENV) or "PyPI"
    reasons = first_error if first_error == second_error else f"{first_error}; fallback wheel: {second_error}"
    # One line: it is what `p2c cartoonize` prints when offline.
    raise MaskModelError(
        f"Could not fetch the portrait-segmentation model: pip could not download mediapipe=={MEDIAPIPE_VERSION} "
        f"from {index} ({reasons}). Provide it with `{FETCH_COMMAND} --wheel WHEEL` (any mediapipe-"
        f"{MEDIAPIPE_VERSION} wheel from {WHEELS_PAGE}), or copy {MODEL_FILENAME} to {dest or default_model_path()}, "
        f"or pass a model file (--mask-model PATH), or skip masking (--no-mask, segmenter=None)."
    )


def extract_model(wheel, sha256=None):
    """The model's bytes from a mediapipe wheel, checked against `sha256` (`None`: `MODEL_SHA256`)."""
    expected = sha256 or MODEL_SHA256
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
    if digest != expected:
        raise MaskModelError(
            f"{WHEEL_MEMBER} in {wheel} has SHA-256 {digest}, expected {expected}; use the "
            f"mediapipe=={MEDIAPIPE_VERSION} wheel from PyPI."
        )
    return data


def fetch_mask_model(dest=None, wheel=None, force=False, sha256=None, progress=True):
    """Make sure the portrait-segmentation model is on disk; return its path.

    Args:
        dest: destination file; `None` means `default_model_path()`.
        wheel: path of a mediapipe 0.10.21 wheel already downloaded; `None` downloads one with pip
            (from `$KERAS_P2C_MASK_INDEX_URL` when set, else PyPI) into a temporary folder, deleted
            afterwards.
        force: fetch again even if a valid file is already there.
        sha256: the model's expected SHA-256; `None` means `MODEL_SHA256`.
        progress: say on stderr that a download starts (it takes a while: ~36 MB).

    Returns:
        `pathlib.Path` of the model file.

    Raises:
        MaskModelError: pip failed (one line saying how to provide the file), or the wheel lacks the
            file or has a different one.
    """
    dest = Path(dest).expanduser() if dest is not None else default_model_path()
    if not force and is_valid_model(dest, sha256):
        return dest
    if wheel is not None:
        data = extract_model(Path(wheel).expanduser(), sha256)
    else:
        if progress:
            print(
                f"Fetching the portrait-segmentation model (one-off, ~36 MB: the mediapipe=={MEDIAPIPE_VERSION} "
                f"wheel) into {dest}...",
                file=sys.stderr,
                flush=True,
            )
        with tempfile.TemporaryDirectory(prefix="keras_p2c_mediapipe_") as folder:
            data = extract_model(download_wheel(folder, dest), sha256)
    write_bytes_atomic(dest, data)
    return dest


def resolve_model_path(path=None):
    """The model file to load: `path` (an error if it is missing), or the cached one (fetched on first use)."""
    if path is None:
        return fetch_mask_model()
    path = Path(path).expanduser()
    if not path.is_file():
        raise MaskModelError(
            f"The portrait-segmentation model {path} is missing. Fetch it with `{FETCH_COMMAND} --dest {path}` "
            "(it downloads the mediapipe wheel with pip and keeps only the 250 KB model), leave the path out to "
            "use the cached model (fetched on first use), or pass mask=None to skip segmentation."
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
    try:
        path = fetch_mask_model(args.dest, wheel=args.wheel, force=args.force)
    except MaskModelError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
