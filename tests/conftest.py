import gc
import os
from pathlib import Path

# Quieter TensorFlow start-up in test logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The generator on Keras' own predict unless a test picks a runtime: the tests' small random generators
# would otherwise each be converted to OpenVINO and checked (~10 s apiece). The choice itself is tested
# in tests/inference/test_runtimes.py and tests/serving/test_accelerated.py, and p2c cartoonize's
# default in tests/cli/test_cartoonize.py.
os.environ.setdefault("KERAS_P2C_RUNTIME", "tensorflow")


def _share_the_cores_between_workers():
    """The cores shared out between the xdist workers: under `-n 2` on two cores, one thread each.

    Two workers on two cores, each with TensorFlow's, torch's and XLA's default pools (a thread per core),
    time-share every core, and a parallel kernel waits on its descheduled half: measured, the suite used
    1252 CPU-seconds with the default pools and 1102 with one thread each. The settings are defaults
    (an explicit one wins) and reach the subprocesses the tests start (p2c commands, the JAX run).
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
    if workers == 1:
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, str(threads))
    multi_threaded = "true" if threads > 1 else "false"
    os.environ.setdefault(
        "XLA_FLAGS", f"--xla_cpu_multi_thread_eigen={multi_threaded} intra_op_parallelism_threads={threads}"
    )


_share_the_cores_between_workers()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# What decides float round-off on CPU: the vector ISA oneDNN/XLA/ATen pick, and the settings that cap it.
_ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")
_NUMERIC_ENV = (
    "TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "XLA_FLAGS",
    "TF_NUM_INTRAOP_THREADS", "OMP_NUM_THREADS",
)


def pytest_report_header(config):
    """One line naming the CPU, the instruction sets that change float results, and the settings capping them."""
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model == "unknown CPU":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
                if flags and model != "unknown CPU":
                    break
    except OSError:
        pass
    isa = " ".join(flag for flag in _ISA_FLAGS if flag in flags) or "none of " + "/".join(_ISA_FLAGS)
    settings = " ".join(f"{name}={os.environ[name]}" for name in _NUMERIC_ENV if name in os.environ) or "none"
    return f"cpu: {model} ({os.cpu_count()} cores); isa: {isa}; numeric env: {settings}"


def pytest_collection_finish(session):
    """Imports and collection done: their objects (TensorFlow's, Keras') are set aside from garbage collection.

    The tests make millions of short-lived objects (eager ops); every full collection would otherwise walk
    the hundreds of thousands the imports left, and a larger first generation means fewer collections.
    Measured on three model files: 9.4 s of collections → 2.7 s, 161 s → 146 s.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


# The files that cost the most CPU time, most first (CPU-seconds measured in one suite run on a 2-core
# AMD EPYC, 2026-12-08). `--dist loadfile` runs each file whole on one worker and, with
# `--no-loadscope-reorder` (pytest.ini), hands files out in the order below: the long ones start first and
# the short ones fill in at the end, so the two workers finish together (longest processing time first).
# A file missing here only runs later; a name that no longer exists fails the suite (see below).
EXPENSIVE_FIRST = (
    "models/test_gan_jax.py",  # waits for the JAX training subprocess (~110-160 CPU-s)
    "models/test_gan.py",  # ~90
    "training/test_end_to_end.py",  # ~90
    "cli/test_cartoonize.py",  # ~75
    "inference/test_runtimes.py",  # ~65
    "serving/test_accelerated.py",  # ~50
    "serving/test_server.py",  # ~45
    "training/test_backup.py",  # ~40
    "serving/test_export.py",  # ~35
    "layers/test_blocks.py",  # ~35
    "models/test_first_step_parity.py",  # ~30
    "benchmarks/test_peers_benchmark.py",  # ~27
    "cli/test_export_serve_client.py",  # ~26
    "models/test_generator.py",  # ~24
    "weights/test_convert.py",  # ~22
)
_TESTS = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    """The expensive files first (see `EXPENSIVE_FIRST`); the order within a file and among the rest is kept."""
    missing = [name for name in EXPENSIVE_FIRST if not (_TESTS / name).is_file()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py EXPENSIVE_FIRST names files that do not exist: {missing}")
    rank = {name: index for index, name in enumerate(EXPENSIVE_FIRST)}

    def position(item):
        try:
            return rank.get(item.path.relative_to(_TESTS).as_posix(), len(rank))
        except ValueError:  # a test outside this folder
            return len(rank)

    items.sort(key=position)


@pytest.fixture(autouse=True)
def _float32_policy():
    """Every test starts (and ends) in float32, whatever a previous test set."""
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture(scope="session")
def astronaut():
    """`skimage.data.astronaut()`: a real 512×512 portrait that works offline."""
    data = pytest.importorskip("skimage.data", reason="scikit-image (test extra) provides the astronaut photo")
    image = data.astronaut()
    assert image.dtype == np.uint8 and image.shape == (512, 512, 3)
    return image


@pytest.fixture(scope="session")
def segmenter():
    """The shared MediaPipe portrait segmenter, its model fetched on first use; skips where that fails (offline)."""
    from keras_p2c.faces import MaskModelError, fetch_mask_model, get_segmenter

    try:
        path = fetch_mask_model()
    except MaskModelError as error:
        pytest.skip(f"portrait-segmentation model unavailable: {error}")
    return get_segmenter(path)


# -- shared by several folders (photos, weights, exports) --------------------------------------------


@pytest.fixture(scope="session")
def two_faces(astronaut):
    """The astronaut and her mirror image side by side (512 x 1024): two faces."""
    return np.hstack([astronaut, astronaut[:, ::-1]])


@pytest.fixture(scope="session")
def small_checkpoint(tmp_path_factory):
    """A small generator (ngf 8, 2 blocks, light, 256 input) in the original `.pt` format, written with torch."""
    pytest.importorskip("torch")
    from tests.helpers.checkpoints import write_small_checkpoint

    return write_small_checkpoint(tmp_path_factory.mktemp("weights") / "photo2cartoon_weights.pt")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def small_generator(small_checkpoint, cache_dir):
    """`small_checkpoint` converted: one `Generator` for the session, so Keras traces its predict function once."""
    from keras_p2c.weights.release import load_generator

    return load_generator(small_checkpoint, cache_dir=cache_dir)


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """(generator, model_dir) with version 1 of a tiny generator (ngf 8, 2 blocks) at 256²."""
    from keras_p2c.models import Generator
    from keras_p2c.serving.export import export_generator

    generator = Generator(ngf=8, n_blocks=2, img_size=256, light=True)
    generator.build((None, 256, 256, 3))
    base = tmp_path_factory.mktemp("saved_models")
    path = export_generator(generator, base_dir=base, name="photo2cartoon")
    assert path.name == "1"
    return generator, path.parent
