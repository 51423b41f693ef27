"""The released Photo2Cartoon weights, and turning a `weights=` argument into a ready Keras generator.

Releases (see the reference spec, "Checkpoint formats"):

* PaddleGAN's `photo2cartoon_genA2B_weight.pdparams` (`RELEASE_URL`): one generator, downloadable
  without a login, so it is the default. PaddleGAN publishes no checksum and the file could not be
  reached from where this code was written, so `RELEASE_SHA256` is `None`: the file is checked by
  structure instead (the strict converter refuses a file unless every tensor fits the generator).
* minivision-ai's `photo2cartoon_weights.pt` (six networks): behind Google Drive / Baidu links in
  that project's README, so it is downloaded by hand and passed as a path.

`load_generator(weights)` accepts a checkpoint of either release, a `.keras` model, a
`.weights.h5` file, a built `Generator`, or `None` (the PaddleGAN release: downloaded once into the
cache with a progress bar, resumable, atomically renamed into place). A `.pt`/`.pdparams` file is
converted once and the result cached beside the downloads as `<stem>-<sha256 prefix>.weights.h5`,
so later starts skip the conversion; the content hash in the name means an edited or re-downloaded
checkpoint is converted again rather than served stale.
"""

import json
import os
import tempfile
import warnings
from pathlib import Path

import h5py
import keras

from keras_p2c.cache import cache_dir as resolve_cache_dir
from keras_p2c.models.generator import Generator, options_from_fc0
from keras_p2c.weights.convert import load_official_network, save_network
from keras_p2c.weights.download import DownloadError, download, file_sha256
from keras_p2c.weights.porting import WeightConversionError
from keras_p2c.weights.safe_unpickler import CheckpointError

RELEASE_URL = "https://paddlegan.bj.bcebos.com/models/photo2cartoon_genA2B_weight.pdparams"
# Not published by PaddleGAN; structure validation stands in for it (see the module docstring).
RELEASE_SHA256 = None
# Points the default download elsewhere (a mirror, or a loopback server in tests).
URL_ENV = "KERAS_P2C_WEIGHTS_URL"
ORIGINAL_RELEASE_HINT = (
    "the original release photo2cartoon_weights.pt is linked (Google Drive / Baidu) from "
    "https://github.com/minivision-ai/photo2cartoon; download it by hand and pass its path"
)

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".pdparams")
KERAS_SUFFIXES = (".keras", ".weights.h5")


def release_url(url=None):
    """The URL the default weights come from: `url`, else `$KERAS_P2C_WEIGHTS_URL`, else `RELEASE_URL`."""
    return url or os.environ.get(URL_ENV) or RELEASE_URL


def converted_path(checkpoint, cache_dir=None):
    """Where the Keras conversion of `checkpoint` is cached: `<cache>/<stem>-<sha256[:16]>.weights.h5`."""
    checkpoint = Path(checkpoint)
    digest = file_sha256(checkpoint)[:16]
    return resolve_cache_dir(cache_dir) / f"{checkpoint.stem}-{digest}.weights.h5"


def generator_options_from_h5(path):
    """Read `Generator` options (ngf, n_blocks, light, img_size, linear_bias) off a `.weights.h5` file.

    A Keras weights file holds no config; the shapes tell the options apart: the stem conv's output
    channels give ngf, the number of encoder blocks n_blocks, `FC_0`'s input width light/full mode,
    and a second variable in `FC_0` the Linear biases.

    Raises:
        ValueError: the file is not a generator's weights file (names the file).
    """
    try:
        with h5py.File(path, "r") as handle:
            # Older Keras 3 releases nest everything under "layers/".
            layers = handle["layers"] if "layers" in handle else handle
            ngf = int(layers["ConvBlock1_conv/vars/0"].shape[3])
            n_blocks = len(layers["EncodeBlocks"].keys())
            fc0 = layers["FC_0/vars"]
            fc0_in = int(fc0["0"].shape[0])
            linear_bias = "1" in fc0
    except (OSError, KeyError) as error:
        raise ValueError(
            f"{path}: not the weights file of a keras-p2c Generator ({error}). Pass an official checkpoint "
            f"(.pt / .pdparams), a .keras model, or a .weights.h5 file written by `p2c convert`."
        ) from error
    return {"ngf": ngf, "n_blocks": n_blocks, **options_from_fc0(ngf, fc0_in), "linear_bias": linear_bias}


def _is_gan_weights(path):
    try:
        with h5py.File(path, "r") as handle:
            return "genA2B" in handle and "disGA" in handle
    except OSError:
        return False


def _generator_from_gan_weights(path):
    """genA2B out of a `Photo2CartoonGAN` weights file (a training backup): its group is a generator's file."""
    with tempfile.TemporaryDirectory(prefix="keras_p2c_backup_") as folder:
        single = Path(folder) / "genA2B.weights.h5"
        with h5py.File(path, "r") as source, h5py.File(single, "w") as target:
            for key in source["genA2B"]:
                source.copy(source["genA2B"][key], target, name=key)
        try:
            return _generator_from_h5(single)
        except ValueError as error:
            raise ValueError(f"{path}: a training backup whose genA2B does not load ({error}).") from error


def run_folder_weights(folder):
    """The generator file of a training run folder (or of its `export/` or `backup/` folder).

    The newest export: `export/genA2B.keras` (written at the end of a run), else the `genA2B_step<N>.keras`
    of the highest step; without exports, the committed backup (`backup/training_metadata.json` names its
    weights file; see `keras_p2c.training.backup`).

    Raises:
        FileNotFoundError: the folder holds neither (the message says what a run folder holds).
    """
    folder = Path(folder)
    for exports in (folder / "export", folder):
        final = exports / "genA2B.keras"
        if final.is_file():
            return final
        steps = sorted(exports.glob("genA2B_step*.keras"))
        if steps:
            return steps[-1]  # zero-padded step numbers sort in step order
    for backup in (folder / "backup", folder):
        metadata = backup / "training_metadata.json"
        if metadata.is_file():
            try:
                name = json.loads(metadata.read_text(encoding="utf-8")).get("weights", "latest.weights.h5")
            except (OSError, ValueError, AttributeError) as error:
                raise FileNotFoundError(f"{metadata}: unreadable backup metadata ({error}).") from error
            if (backup / name).is_file():
                return backup / name
    raise FileNotFoundError(
        f"{folder} is a folder but not a training run: expected export/genA2B*.keras or a backup/ "
        f"(what `p2c train --output-dir` writes). Pass a weights file instead."
    )


def _generator_from_h5(path):
    if _is_gan_weights(path):
        return _generator_from_gan_weights(path)
    options = generator_options_from_h5(path)
    generator = Generator(**options)
    generator.build((None, options["img_size"], options["img_size"], 3))
    try:
        generator.load_weights(path)
    except (ValueError, OSError, KeyError) as error:
        raise ValueError(f"{path}: the weights do not fit a Generator{options} ({error}).") from error
    return generator


def _generator_from_keras(path):
    try:
        model = keras.saving.load_model(path, compile=False)
    except (ValueError, OSError, TypeError) as error:
        raise ValueError(f"{path}: cannot load the .keras model ({error}).") from error
    if not isinstance(model, Generator):
        raise ValueError(f"{path}: holds a {type(model).__name__}, not a keras-p2c Generator.")
    return model


def _cached_conversion(checkpoint, cache_dir):
    """Convert `checkpoint` once; later calls load the cached `.weights.h5`."""
    target = converted_path(checkpoint, cache_dir)
    if target.is_file():
        try:
            return _generator_from_h5(target)
        except ValueError as error:  # e.g. written by an incompatible version: convert again
            warnings.warn(f"Ignoring the cached conversion {target} ({error}); converting again.", stacklevel=3)
    # Strict: `WeightConversionError` lists whatever does not fit a generator.
    generator = load_official_network(checkpoint, network="genA2B")
    try:
        save_network(generator, target)
    except OSError as error:  # a read-only cache only costs the conversion next time
        warnings.warn(f"Could not cache the converted weights at {target} ({error}).", stacklevel=3)
    return generator


def fetch_release(url=None, cache_dir=None, sha256=RELEASE_SHA256, progress=True):
    """Download the PaddleGAN generator once into the cache; returns the local `.pdparams` path.

    Args:
        url: where to download from (see `release_url`).
        cache_dir: cache folder; `None` means `$KERAS_P2C_HOME`, else `~/.cache/keras_p2c`.
        sha256: expected checksum, or `None` (the release publishes none).
        progress: show a download progress bar.

    Raises:
        DownloadError: unreachable, interrupted (call again to resume) or wrong checksum.
    """
    url = release_url(url)
    try:
        return download(url, cache_dir=resolve_cache_dir(cache_dir), sha256=sha256, progress=progress)
    except DownloadError as error:
        raise DownloadError(f"{error} Alternatively, {ORIGINAL_RELEASE_HINT}.") from error


def release_generator(url=None, cache_dir=None, sha256=RELEASE_SHA256, progress=True):
    """The released generator as a Keras model: download once, validate by structure, convert once, cache.

    A downloaded file that is not a Photo2Cartoon generator (e.g. an HTML error page a proxy served
    with status 200) is deleted, so the next call downloads it again instead of failing forever.

    Raises:
        DownloadError: see `fetch_release`.
        WeightConversionError: the downloaded file is not the expected generator (it was deleted).
    """
    path = fetch_release(url, cache_dir, sha256, progress)
    try:
        return _cached_conversion(path, cache_dir)
    except (CheckpointError, WeightConversionError) as error:
        path.unlink(missing_ok=True)
        raise WeightConversionError(
            f"The file downloaded from {release_url(url)} is not a Photo2Cartoon generator and was deleted "
            f"(the next run downloads it again): {error}"
        ) from error


def load_generator(weights=None, cache_dir=None, url=None, progress=True):
    """Resolve a `weights` argument into a built Keras `Generator`.

    Args:
        weights: `None` (the PaddleGAN release, see `release_generator`); a path to an official
            checkpoint (`.pt`/`.pth` of minivision-ai, `.pdparams` of PaddleGAN; converted once and
            cached), a `.keras` model, a `.weights.h5` file (a generator's, or a training backup's: its
            genA2B), a training run folder (`run_folder_weights`); or a `Generator` instance.
        cache_dir: where downloads and conversions are cached (`None`: `$KERAS_P2C_HOME`, else
            `~/.cache/keras_p2c`).
        url: download URL for `weights=None` (default `release_url()`).
        progress: progress bar while downloading.

    Returns:
        `Generator`.

    Raises:
        FileNotFoundError: `weights` names no file.
        ValueError: the file is of an unknown kind or does not hold a generator
            (`WeightConversionError` and `CheckpointError` are `ValueError`s).
        DownloadError: the default weights could not be downloaded.
    """
    if isinstance(weights, keras.Model):
        return weights
    if weights is None:
        return release_generator(url=url, cache_dir=cache_dir, progress=progress)
    path = Path(os.fspath(weights)).expanduser()
    if path.is_dir():
        path = run_folder_weights(path)
    if not path.is_file():
        raise FileNotFoundError(f"Weights file not found: {path}. Pass an existing file, or omit it for the release.")
    name = path.name.lower()
    if name.endswith(".keras"):
        return _generator_from_keras(path)
    if name.endswith(".weights.h5") or name.endswith(".h5"):
        return _generator_from_h5(path)
    # Official checkpoints; the format is read off the file's bytes (a misnamed file still works).
    return _cached_conversion(path, cache_dir)
