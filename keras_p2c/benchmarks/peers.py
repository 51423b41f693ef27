"""The generator on every CPU runtime, side by side with the reference's own (issue 11).

    p2c benchmark --what peers [--repeats 10] [--batch 16]     # or: python scripts/benchmark.py --what peers

Peers, the reference as it runs on a CPU: the reference PyTorch generator eager (`tests/reference`,
`torch.no_grad`, all cores) and that network exported by torch's TorchScript ONNX exporter (as the
original's `photo2cartoon_weights.onnx` was) on onnxruntime. Ours: `Photo2Cartoon.generate` (what
`p2c cartoonize` runs: `predict_on_batch`), the SavedModel's `predict_images` signature (what
`p2c serve` runs), the generator under a plain `tf.function`, a plain eager `generator(x)` call,
OpenVINO and onnxruntime on our ONNX export, and, where the CPU has bf16 units (AVX512_BF16 / AMX),
OpenVINO in bf16 and Keras' mixed bfloat16 (torch's bf16 autocast too, as a reduced-precision peer
that does not count as the best peer).

All compute one function: one untrained generator of the released architecture (ngf 32, light,
4 blocks), the reference network's random weights converted into Keras by the release's converter.
Each (runtime, batch) is timed once per round, rounds repeated, the order rotated each round, so a
change of machine load hits all alike. Each runtime's image is compared with Keras' float32 image
(`Photo2Cartoon.generate`) on the timed random inputs and on a real photo (the astronaut of
scikit-image, prepared as the predictor prepares a face), with its PSNR for reduced precision.
A runtime that is not installed, or needs bf16 units the CPU lacks, is reported as skipped with why.
"""

import dataclasses
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import keras
import numpy as np

from keras_p2c.benchmarks.generator import compiled_forward
from keras_p2c.benchmarks.reference import Unavailable, reference_module
from keras_p2c.benchmarks.timing import has_bf16_units
from keras_p2c.faces.prepare import prepare_faces
from keras_p2c.inference.predictor import Photo2Cartoon
from keras_p2c.inference.runtimes import psnr_db
from keras_p2c.models import Generator
from keras_p2c.serving.accelerated import RuntimeSignatures
from keras_p2c.serving.export import FLOAT_INPUT, FLOAT_OUTPUTS, FLOAT_SIGNATURE, IMAGE_SIZE, export_generator
from keras_p2c.weights.convert import generator_from_state_dict

BATCHES = (1, 2, 4, 8)
NGF, N_BLOCKS = 32, 4  # the release's generator
WARMUP_ROUNDS = 1  # untimed, after the comparison pass has already called every runner once
FLOAT32_ATOL = 1e-4  # the bound for float32 paths, on the image in [-1, 1]
PSNR_FLOOR_DB = 40.0  # and for reduced precision, against float32 on a real photo
GOAL_SPEEDUP = 1.5  # ours against the best peer, at batch 1 and at the best batch


@dataclasses.dataclass
class Runner:
    """One runtime at one batch: `feed` (untimed) makes its input, `call` is timed, `image` reads the result."""

    feed: object
    call: object
    image: object
    chosen: object = None  # for a runtime picked at run time: () -> {"chosen", "precision", "passed_over"}


@dataclasses.dataclass
class Runtime:
    name: str
    group: str  # "peer", "peer_reduced" (not a candidate for the best peer) or "ours"
    precision: str
    path: str  # what exactly is timed
    make: object  # batch -> Runner; raises Unavailable (or ImportError) where it cannot run


def _nchw(x):
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def _nhwc(x):
    return np.asarray(x, dtype=np.float32).transpose(0, 2, 3, 1)


def _same(x):
    return x


def _reason(error):
    return str(error) if isinstance(error, Unavailable) else f"{type(error).__name__}: {error}"


# -- the shared weights ----------------------------------------------------------------------------


def _reference_helpers(module):
    return reference_module(f"helpers.{module}")


def shared_generators(size, ngf, n_blocks):
    """`(keras_generator, torch_net, reason)`: both with the same random weights, or Keras' own and why not."""
    try:
        checkpoints = _reference_helpers("checkpoints")
    except Unavailable as error:
        generator = Generator(ngf=ngf, img_size=size, n_blocks=n_blocks)
        generator.build((None, size, size, 3))
        return generator, None, str(error)
    net = checkpoints.torch_generator(ngf=ngf, n_blocks=n_blocks, seed=0)
    state_dict = {key: value.detach().numpy() for key, value in net.state_dict().items()}
    return generator_from_state_dict(state_dict, source_name="the reference network", img_size=size), net, None


def bfloat16_copy(generator):
    """The same generator under Keras' mixed_bfloat16 policy (bf16 compute, float32 weights)."""
    copy = Generator.from_config({**generator.get_config(), "dtype": "mixed_bfloat16"})
    copy.build((None, generator.img_size, generator.img_size, 3))
    copy.set_weights(generator.get_weights())
    return copy


def photo_input(size):
    """A real face as the predictor feeds it: the astronaut, detected, aligned and cropped, `(1, size, size, 3)`."""
    try:
        from skimage import data  # the test extra; only this figure needs it
    except ImportError as error:
        raise Unavailable(f"{type(error).__name__}: {error} (pip install scikit-image)") from error
    face = prepare_faces(data.astronaut(), name="skimage.data.astronaut()")[0].input_256
    if size != face.shape[0]:
        face = cv2.resize(face, (size, size), interpolation=cv2.INTER_AREA)
    return face[None].astype(np.float32)


# -- the runtimes ----------------------------------------------------------------------------------


def _torch_runner(net, threads, bfloat16=False):
    import torch

    torch.set_num_threads(threads)

    def call(x):
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            return net(x)[0]

    return lambda batch: Runner(lambda x: torch.from_numpy(_nchw(x)), call, lambda out: _nhwc(out.float().numpy()))


def _onnxruntime_session(path, threads):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # Its default is the physical cores; the other runtimes use every logical CPU.
    options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _image_index(shapes, image_shape):
    """Which output is the image: runtimes order and name the three outputs their own way."""
    (index,) = [i for i, shape in enumerate(shapes) if tuple(shape) == tuple(image_shape)]
    return index


def _onnxruntime_runner(path, size, channels_first, threads):
    session = _onnxruntime_session(path, threads)
    name = session.get_inputs()[0].name

    def make(batch):
        if channels_first:
            image_shape, feed, to_nhwc = (batch, 3, size, size), _nchw, _nhwc
        else:
            image_shape, feed, to_nhwc = (batch, size, size, 3), _same, _same
        image = lambda outputs: to_nhwc(outputs[_image_index([o.shape for o in outputs], image_shape)])  # noqa: E731
        return Runner(lambda x: {name: feed(x)}, lambda inputs: session.run(None, inputs), image)

    return make


def _keras_onnx(generator, path):
    """Our generator as ONNX with a free batch axis (`p2c export --format onnx` writes batch 1)."""
    size = generator.img_size
    generator(np.zeros((1, size, size, 3), np.float32), training=False)  # Keras' exporter needs one call
    spec = keras.InputSpec(shape=(None, size, size, 3), dtype="float32")
    generator.export(str(path), format="onnx", input_signature=[spec], verbose=False)
    return path


def _openvino_runner(path, size, precision):
    import openvino

    core = openvino.Core()
    # On a CPU with bf16 units OpenVINO computes in bf16 unless told otherwise.
    hint = {"float32": "f32", "bf16": "bf16"}[precision]

    def make(batch):
        model = core.read_model(str(path))
        model.reshape([batch, size, size, 3])  # static shapes: OpenVINO plans its kernels for them
        compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint})
        index = _image_index([o.shape for o in compiled.outputs], (batch, size, size, 3))
        request = compiled.create_infer_request()
        return Runner(_same, lambda x: request.infer([x]), lambda out: np.asarray(out[compiled.outputs[index]]))

    return make


def _saved_model_runner(generator, workdir):
    import tensorflow as tf

    if generator.img_size != IMAGE_SIZE:
        raise Unavailable(f"p2c serve's SavedModel signature takes {IMAGE_SIZE}² images, not {generator.img_size}²")
    signature = tf.saved_model.load(str(export_generator(generator, base_dir=workdir, name="p2c"))).signatures[
        FLOAT_SIGNATURE
    ]
    call = lambda x: signature(**{FLOAT_INPUT: x})[FLOAT_OUTPUTS[0]].numpy()  # noqa: E731
    return lambda batch: Runner(tf.constant, call, _same)


def _predictor_runner(generator, runtime="tensorflow", cache_dir=None):
    def make(batch):
        predictor = Photo2Cartoon(weights=generator, segmenter=None, batch_size=batch, runtime=runtime, cache_dir=cache_dir)
        chosen = (lambda: _choice(predictor.runtime)) if runtime == "auto" else None
        return Runner(_same, predictor.generate, _same, chosen)

    return make


def _auto_runner(generator, workdir, photo):
    """`Photo2Cartoon` as a user runs it: `runtime="auto"`, its one-off choice made on the real photo first."""
    cache = Path(workdir) / "runtime-cache"
    if photo is not None:  # the first run's check, cached for the others, is on a real face as in p2c cartoonize
        Photo2Cartoon(weights=generator, segmenter=None, runtime="auto", cache_dir=cache).generate(
            photo, first_name="skimage.data.astronaut()"
        )
    return _predictor_runner(generator, runtime="auto", cache_dir=cache)


def _choice(runtime):
    """What a runtime chosen at run time settled on, for the JSON."""
    return {"chosen": runtime.describe(), "precision": runtime.precision, "passed_over": list(runtime.passed_over)}


def _keras_call_runner(generator):
    call = lambda x: keras.ops.convert_to_numpy(generator(x, training=False)[0])  # noqa: E731
    return lambda batch: Runner(_same, call, _same)


def _tf_function_runner(generator):
    forward = compiled_forward(generator, jit_compile=False)
    return lambda batch: Runner(_same, lambda x: forward(x).numpy(), _same)


def _serve_auto_runner(generator, workdir, photo):
    """`p2c serve --runtime auto`: the export's generator signature on the runtime the server picks."""
    import tensorflow as tf

    if generator.img_size != IMAGE_SIZE:
        raise Unavailable(f"p2c serve's SavedModel signature takes {IMAGE_SIZE}² images, not {generator.img_size}²")
    path = export_generator(generator, base_dir=Path(workdir) / "serve", name="p2c")
    module = tf.saved_model.load(str(path))
    cache = Path(workdir) / "serve-cache"
    served = RuntimeSignatures(path, module.signatures, runtime="auto", cache_dir=cache, log=lambda line: None)
    served.module = module  # the signatures need the loaded module alive
    call = lambda x: served.predict(FLOAT_SIGNATURE, {FLOAT_INPUT: x})["image"]  # noqa: E731
    if photo is not None:
        call(photo)  # the server's choice is made on its first real request
    return lambda batch: Runner(_same, call, _same, lambda: _choice(served.runtime))


def _requires_bf16_units(make):
    def checked(batch):
        if not has_bf16_units():
            raise Unavailable("the CPU has no bf16 units (AVX512_BF16 / AMX): bf16 is emulated here, and slower")
        return make(batch)

    return checked


def _lazy(factory):
    """`factory()` -> make, run once on the first batch (exports are made only for runtimes that run)."""
    made = []

    def make(batch):
        if not made:
            made.append(factory())
        return made[0](batch)

    return make


def runtimes(generator, net, reference_reason, workdir, threads, photo=None):
    """Every runtime measured, peers first; each builds what it needs on its first batch.

    `threads`: the thread pools of torch and onnxruntime (TensorFlow's and OpenVINO's use every CPU).
    """
    workdir = Path(workdir)

    def needs_net(factory):
        def checked():
            if net is None:
                raise Unavailable(reference_reason)
            return factory()

        return checked

    def reference_onnx():
        exports = _reference_helpers("onnx_exports")
        axes = {"input": {0: "batch"}, "output": {0: "batch"}}
        path = exports.export_generator(net, workdir / "reference.onnx", size=generator.img_size, dynamic_axes=axes)
        return _onnxruntime_runner(path, generator.img_size, True, threads)

    ours_onnx = []

    def our_onnx():
        if not ours_onnx:
            ours_onnx.append(_keras_onnx(generator, workdir / "keras_p2c.onnx"))
        return ours_onnx[0]

    size = generator.img_size
    torch_path = f"the reference TorchGenerator, eager, torch.no_grad, torch.set_num_threads({threads})"
    return [
        Runtime("torch_eager", "peer", "float32", torch_path, _lazy(needs_net(lambda: _torch_runner(net, threads)))),
        Runtime(
            "reference_onnx_onnxruntime", "peer", "float32",
            "the reference exported by torch.onnx.export (TorchScript exporter, opset 9, as the original's file), "
            "onnxruntime CPUExecutionProvider",
            _lazy(needs_net(reference_onnx)),
        ),
        Runtime(
            "torch_eager_bf16", "peer_reduced", "bf16", torch_path + ", torch.autocast('cpu', bfloat16)",
            _requires_bf16_units(_lazy(needs_net(lambda: _torch_runner(net, threads, bfloat16=True)))),
        ),
        Runtime(
            "photo2cartoon_generate", "ours", "float32",
            "Photo2Cartoon.generate (p2c cartoonize): generator.predict_on_batch", _lazy(lambda: _predictor_runner(generator)),
        ),
        Runtime(
            "photo2cartoon_auto", "ours", "auto",
            "Photo2Cartoon(runtime='auto').generate, as p2c cartoonize runs by default (the runtime it picks is in "
            "'chosen')",
            _lazy(lambda: _auto_runner(generator, workdir, photo)),
        ),
        Runtime(
            "serve_auto", "ours", "auto",
            "p2c serve --runtime auto: serving.accelerated on the export's predict_images signature (the runtime it "
            "picks is in 'chosen')",
            _lazy(lambda: _serve_auto_runner(generator, workdir, photo)),
        ),
        Runtime(
            "savedmodel_predict_images", "ours", "float32",
            f"p2c serve: the SavedModel's {FLOAT_SIGNATURE} signature (tf.saved_model.load)",
            _lazy(lambda: _saved_model_runner(generator, workdir)),
        ),
        Runtime(
            "keras_tf_function", "ours", "float32", "tf.function(lambda x: generator(x, training=False)[0])",
            _lazy(lambda: _tf_function_runner(generator)),
        ),
        Runtime(
            "keras_eager_call", "ours", "float32", "generator(x, training=False), eager",
            _lazy(lambda: _keras_call_runner(generator)),
        ),
        Runtime(
            "openvino_float32", "ours", "float32", "OpenVINO CPU plugin on our ONNX export, INFERENCE_PRECISION_HINT f32",
            _lazy(lambda: _openvino_runner(our_onnx(), size, "float32")),
        ),
        Runtime(
            "onnxruntime_keras_export", "ours", "float32", "onnxruntime CPUExecutionProvider on our ONNX export (tf2onnx)",
            _lazy(lambda: _onnxruntime_runner(our_onnx(), size, False, threads)),
        ),
        Runtime(
            "openvino_bf16", "ours", "bf16", "OpenVINO CPU plugin on our ONNX export, INFERENCE_PRECISION_HINT bf16",
            _requires_bf16_units(_lazy(lambda: _openvino_runner(our_onnx(), size, "bf16"))),
        ),
        Runtime(
            "keras_mixed_bfloat16", "ours", "bf16", "Photo2Cartoon.generate with the generator under mixed_bfloat16",
            _requires_bf16_units(_lazy(lambda: _predictor_runner(bfloat16_copy(generator)))),
        ),
    ]  # fmt: skip


# -- measuring -------------------------------------------------------------------------------------


def _psnr_db(image, reference):
    """`psnr_db`, `None` (JSON has no infinity) when the images are identical."""
    value = psnr_db(image, reference)
    return None if math.isinf(value) else value


def _interleaved(runners, inputs, repeats):
    """Seconds of each `(runtime, batch)` call, rounds of one call each, the order rotated every round."""
    keys = list(runners)
    fed = {key: runners[key].feed(inputs[key[1]]) for key in keys}
    seconds = {key: [] for key in keys}
    progress = keras.utils.Progbar(WARMUP_ROUNDS + repeats, unit_name="round")
    for round_index in range(WARMUP_ROUNDS + repeats):
        shift = round_index % len(keys)
        for key in keys[shift:] + keys[:shift]:
            start = time.perf_counter()
            runners[key].call(fed[key])
            elapsed = time.perf_counter() - start
            if round_index >= WARMUP_ROUNDS:
                seconds[key].append(elapsed)
        progress.update(round_index + 1)
    return seconds


def _differences(made, inputs, expected, photo, expected_photo):
    """One runtime's max |image − Keras float32| over its batches, and on the photo with the PSNR."""
    entry = {"max_abs_difference": 0.0}
    for batch, runner in made.items():
        image = runner.image(runner.call(runner.feed(inputs[batch])))
        entry["max_abs_difference"] = max(entry["max_abs_difference"], float(np.max(np.abs(image - expected[batch]))))
    if photo is not None:
        photo_image = made[1].image(made[1].call(made[1].feed(photo)))
        entry["photo_max_abs_difference"] = float(np.max(np.abs(photo_image - expected_photo)))
        entry["photo_psnr_db"] = _psnr_db(photo_image, expected_photo)
    return entry


def _accepted(entry, precision, photo_reason):
    if precision == "float32":
        return entry["max_abs_difference"] <= FLOAT32_ATOL and entry.get("photo_max_abs_difference", 0) <= FLOAT32_ATOL
    if photo_reason is not None:
        return None  # no photo, no PSNR: not judged
    return entry["photo_psnr_db"] is None or entry["photo_psnr_db"] >= PSNR_FLOOR_DB


def _per_image(seconds, batch):
    return {
        "min_s_per_image": min(seconds) / batch,
        "median_s_per_image": statistics.median(seconds) / batch,
        "images_per_s": batch / min(seconds),
    }


def _speedups(results, batches, figure):
    """The best peer at batch 1 and at its best batch, and every one of ours against it, by `figure`."""
    measured = {name: r for name, r in results.items() if "batches" in r}
    peers = {name: r for name, r in measured.items() if r["group"] == "peer"}
    if not peers:
        return None, {}
    at_one = min(peers, key=lambda name: peers[name]["batches"]["1"][figure])
    best = min(peers, key=lambda name: min(b[figure] for b in peers[name]["batches"].values()))
    best_batch = min(peers[best]["batches"], key=lambda b: peers[best]["batches"][b][figure])
    best_peer = {
        "batch_1": {"runtime": at_one, "s_per_image": peers[at_one]["batches"]["1"][figure]},
        "best_batch": {"runtime": best, "batch": int(best_batch), "s_per_image": peers[best]["batches"][best_batch][figure]},
    }
    ratios = {}
    for name, entry in measured.items():
        if entry["group"] != "ours":
            continue
        own_best = min(b[figure] for b in entry["batches"].values())
        ratios[name] = {
            "batch_1": best_peer["batch_1"]["s_per_image"] / entry["batches"]["1"][figure],
            "best_batch": best_peer["best_batch"]["s_per_image"] / own_best,
        }
    return best_peer, ratios


def run(
    batch=1,
    size=256,
    precision="float32",
    repeats=10,
    jit_compile=False,
    ngf=None,
    n_blocks=None,
    batches=None,
    only=None,
    threads=None,
):
    """Times every runtime at `batches` (default `BATCHES`, plus `batch` if it is not among them).

    `precision` and `jit_compile` are the script's common options: every precision the CPU can run is
    measured here, and XLA is not one of the predictor's paths. `only`: the names of the runtimes to
    measure (the others are reported as skipped), e.g. to leave out the tf2onnx export (minutes).
    `threads`: torch's and onnxruntime's thread pools (default: every CPU, as TensorFlow's).
    """
    del precision, jit_compile
    batches = sorted(set(BATCHES if batches is None else batches) | {batch} | {1})
    ngf, n_blocks, threads = ngf or NGF, n_blocks or N_BLOCKS, threads or os.cpu_count()
    generator, net, reference_reason = shared_generators(size, ngf, n_blocks)
    # One stack, each batch its first images: the first image is the same at every batch.
    stack = np.random.default_rng(0).uniform(-1, 1, (max(batches), size, size, 3)).astype(np.float32)
    inputs = {b: np.ascontiguousarray(stack[:b]) for b in batches}
    expected_maker = _predictor_runner(generator)
    expected = {b: expected_maker(b).call(inputs[b]) for b in batches}
    # How far Keras' own float32 image moves with the batch size (other kernels, other sum orders): the
    # scale of the float32 differences between runtimes.
    batch_spread = max(float(np.max(np.abs(expected[b][:1] - expected[1][:1]))) for b in batches)
    try:
        photo, photo_reason = photo_input(size), None
        expected_photo = expected_maker(1).call(photo)
    except Unavailable as error:
        photo, photo_reason, expected_photo = None, str(error), None

    results, runners = {}, {}
    with tempfile.TemporaryDirectory() as workdir:
        for runtime in runtimes(generator, net, reference_reason, workdir, threads, photo):
            entry = results[runtime.name] = {"group": runtime.group, "precision": runtime.precision}
            if only is not None and runtime.name not in only:
                entry["skipped"] = "not selected"
                continue
            try:
                made = {b: runtime.make(b) for b in batches}
            except (Unavailable, ImportError) as error:
                entry["skipped"] = _reason(error)
                continue
            try:
                # Also the first call of every runner: tracing, kernel selection, allocation stay untimed.
                entry.update(path=runtime.path, **_differences(made, inputs, expected, photo, expected_photo))
                if made[1].chosen is not None:
                    entry.update(made[1].chosen())
            except Exception as error:  # noqa: BLE001 - one runtime failing is a figure, the others still run
                entry["failed"] = f"{type(error).__name__}: {error}"
                continue
            runners.update({(runtime.name, b): runner for b, runner in made.items()})
            print(f"peers: {runtime.name} ready", file=sys.stderr, flush=True)
        seconds = _interleaved(runners, inputs, repeats)

    for name, entry in results.items():
        if "skipped" in entry or "failed" in entry:
            continue
        entry["accepted"] = _accepted(entry, entry["precision"], photo_reason)
        entry["batches"] = {str(b): _per_image(seconds[(name, b)], b) for b in batches}
        entry["best_batch"] = int(min(entry["batches"], key=lambda b: entry["batches"][b]["min_s_per_image"]))
    best_peer, speedups = _speedups(results, batches, "min_s_per_image")
    _, speedups_median = _speedups(results, batches, "median_s_per_image")
    return {
        "figure": "cpu_runtimes_vs_peers",
        "size": size,
        "ngf": ngf,
        "n_blocks": n_blocks,
        "batches": batches,
        "repeats": repeats,
        "warmup_rounds": WARMUP_ROUNDS,
        "peer_threads": threads,
        "bf16_units": has_bf16_units(),
        "reference": reference_reason or "tests/reference TorchGenerator, its weights converted into Keras",
        "photo": photo_reason or "skimage.data.astronaut(), prepared as Photo2Cartoon prepares a face (no mask)",
        "keras_batch_spread": batch_spread,
        "float32_atol": FLOAT32_ATOL,
        "psnr_floor_db": PSNR_FLOOR_DB,
        "runtimes": results,
        "best_peer": best_peer,
        "speedup_vs_best_peer": speedups,
        "speedup_vs_best_peer_median": speedups_median,
        "goal_speedup": GOAL_SPEEDUP,
        "all_s": {f"{name}/{b}": values for (name, b), values in seconds.items()},
    }
