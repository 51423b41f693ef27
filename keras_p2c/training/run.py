"""`train(config)`: builds the data pipeline, the GAN, its optimisers and callbacks from a `TrainConfig`, and fits.

A run folder (`config.output_dir`) holds:

    config.yaml            the resolved config
    backup/                the full training state (all six networks, both optimisers, the epoch reached),
                           written every `logging.checkpoint_every` steps; a new run on the same folder resumes there
    logs/                  TensorBoard event files (losses, learning rates, sample sheets)
    export/                genA2B_step<N>.keras every `logging.export_every` steps and genA2B.keras at the end
    synthetic-data/        only with `data.synthetic: true`

Steps and epochs: `fit` runs `iterations / checkpoint_every` epochs of `checkpoint_every` steps. Keras'
`BackupAndRestore` restores the epoch reached, not a position inside one, so saving once per epoch makes a
resumed run start exactly at the last saved step (written atomically: `training.backup`), with both optimisers' step counters and moments as saved.
The data stream restarts on resume (new shuffles and crops), as the reference's loaders do.
"""

import atexit
import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np

from keras_p2c.data.files import list_image_files
from keras_p2c.data.synthetic import write_synthetic_dataset
from keras_p2c.data.unpaired import folder_dataset, train_dataset
from keras_p2c.evaluation.features import MIN_INPUT_SIZE, InceptionFeatures
from keras_p2c.models import Photo2CartoonGAN
from keras_p2c.optimizers import LinearDecayAfter, ReferenceAdam
from keras_p2c.training import strategy as strategies
from keras_p2c.training.backup import AtomicBackupAndRestore, backed_up_epoch, has_backup
from keras_p2c.training.callbacks import GeneratorExport, TensorBoardSummaries
from keras_p2c.training.compilation_cache import enable_jax_compilation_cache
from keras_p2c.training.config import config_differences, load_config, write_config
from keras_p2c.training.evaluation import PeriodicEvaluation, to_uint8
from keras_p2c.training.progress import StepProgress
from keras_p2c.training.samples import translation_sheets
from keras_p2c.weights.convert import load_official_gan
from keras_p2c.weights.mobilefacenet_table import load_face_features

logger = logging.getLogger(__name__)


class TrainingSetupError(RuntimeError):
    """The run cannot start as configured (missing data or weights, a run folder from another model)."""


@dataclasses.dataclass
class TrainingResult:
    """What `train` returns.

    Args:
        run_dir: the run folder.
        model: the trained `Photo2CartoonGAN`.
        history: the `keras.callbacks.History` of this `fit` call (only the epochs run in it).
        initial_step: the step training started from (0, or where a backup left off).
        exports: paths of the generator files written in this call.
    """

    run_dir: Path
    model: object
    history: object
    initial_step: int
    exports: list


def train(config, callbacks=(), echo=print):
    """Trains a Photo2Cartoon GAN as `config` says, resuming from the run folder's backup if it has one.

    Args:
        config: a validated `TrainConfig`.
        callbacks: extra Keras callbacks, run after the driver's own.
        echo: where to print the run's few summary lines (`print`; `None` for silence).

    Returns:
        A `TrainingResult`.

    Raises:
        TrainingSetupError: no data, a weights file missing, Face-ID weights missing with a non-zero weight,
            a batch that does not split over the replicas, or a run folder holding another model's backup.
    """
    say = echo or (lambda *args: None)
    run_dir = Path(config.output_dir)
    # First: MultiWorkerMirroredStrategy must exist before any other TensorFlow operation runs.
    strategy = strategies.select_strategy(config.strategy)
    enable_jax_compilation_cache()  # on JAX: a resumed or repeated run reuses the compiled programs
    policy_before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(config.precision)
    try:
        config = resolve_face_id(config)
        if config.init_from and not Path(config.init_from).is_file():
            raise TrainingSetupError(f"init_from: {config.init_from} is not a file (photo2cartoon_weights.pt).")
        replicas = strategies.replica_count(strategy)
        if config.training.batch_size % replicas:
            raise TrainingSetupError(
                f"training.batch_size ({config.training.batch_size}) is the global batch and must be a multiple of "
                f"the {replicas} replicas of {strategies.describe(strategy)}."
            )
        data_root = _data_root(config, run_dir)
        backup_dir = run_dir / "backup"
        _check_run_folder(config, run_dir, backup_dir)
        if strategies.is_chief():
            write_config(config, run_dir / "config.yaml")
        initial_step = _backed_up_step(backup_dir, config.logging.checkpoint_every)
        if config.data.seed is not None:
            keras.utils.set_random_seed(config.data.seed)

        dataset = _training_data(config, data_root, strategy)
        schedule = _learning_rate_schedule(config)
        with strategies.strategy_scope(strategy):
            gan = build_gan(config, schedule)
        say(
            f"Training {config.training.iterations:,} steps of global batch {config.training.batch_size} on "
            f"{strategies.describe(strategy)}, {config.precision}; run folder {run_dir}"
            + _resume_note(initial_step, config.training.iterations)
        )
        steps_per_epoch = config.logging.checkpoint_every
        verbose = config.logging.verbose
        progress = []
        if verbose == 1 and strategies.is_chief():
            # Steps, not Keras epochs (checkpoint periods), and a word before the one-off build, said now
            # rather than after the callbacks' set-up (the evaluation's InceptionV3 takes seconds).
            progress.append(
                StepProgress(
                    steps_per_epoch,
                    config.training.iterations,
                    initial_step,
                    every=config.logging.log_every,
                    min_seconds=30.0,
                    compiled=not config.training.run_eagerly,
                    echo=say,
                )
            )
            progress[0].announce()
        own, export = _driver_callbacks(config, gan, schedule, data_root, backup_dir)
        own += progress
        history = gan.fit(
            dataset,
            epochs=config.training.iterations // steps_per_epoch,
            steps_per_epoch=steps_per_epoch,
            callbacks=own + list(callbacks),
            verbose=2 if verbose == 2 else 0,
            shuffle=False,  # the dataset shuffles itself; Keras cannot shuffle a stream
        )
        exports = export.exported if export else []
        if exports:
            say(f"Exported the photo → cartoon generator: {exports[-1]}")
        return TrainingResult(run_dir, gan, history, initial_step, exports)
    finally:
        keras.config.set_dtype_policy(policy_before)


def _driver_callbacks(config, gan, schedule, data_root, backup_dir):
    """Restore on every process; backups, TensorBoard and exports on the chief only. Returns (callbacks, export)."""
    run_dir = Path(config.output_dir)
    steps_per_epoch = config.logging.checkpoint_every
    # Kept after the run (delete_checkpoint=False), so starting a finished run again does not start over.
    callbacks = [
        AtomicBackupAndRestore(backup_dir, save_freq="epoch", delete_checkpoint=False, write=strategies.is_chief())
    ]
    if not strategies.is_chief():
        return callbacks, None
    samples = _sample_batch(config, data_root)
    callbacks.append(
        TensorBoardSummaries(
            run_dir / "logs",
            steps_per_epoch,
            config.logging.log_every,
            config.logging.sample_every,
            learning_rates=lambda step: _learning_rates(schedule, step),
            sample_sheets=lambda: _sample_sheets(gan, *samples),
        )
    )
    export = GeneratorExport(run_dir / "export", steps_per_epoch, config.logging.export_every, _exported)
    callbacks.append(export)
    if config.logging.eval_every:
        callbacks.append(_periodic_evaluation(config, gan, data_root))
    return callbacks, export


def _periodic_evaluation(config, gan, root):
    """The `PeriodicEvaluation` of `logging.eval_*` on the first testA/ photos and testB/ cartoons."""
    log = config.logging
    photos, cartoons = (to_uint8(batch) for batch in _sample_batch(config, root, log.eval_images, paired=False))
    if log.eval_inception_weights == "random":
        # Smoke runs and tests: the plumbing without the ImageNet download; the figures mean nothing.
        inception = InceptionFeatures(weights=None, input_size=MIN_INPUT_SIZE, progress=False)
    else:
        inception = InceptionFeatures(weights=log.eval_inception_weights)
    face_features = gan.face_features if gan.uses_face_id else None
    return PeriodicEvaluation(
        Path(config.output_dir) / "logs", log.checkpoint_every, log.eval_every, photos, cartoons, inception,
        face_features,
    )  # fmt: skip


def resolve_face_id(config):
    """The config with the Face-ID term checked: weights present, or explicitly turned off with a warning.

    Raises:
        TrainingSetupError: a non-zero `loss.face_id` without `face_id_weights` (unless `allow_no_face_id`),
            or weights that are not a file.
    """
    if config.loss.face_id == 0:
        return config
    if config.face_id_weights:
        if not Path(config.face_id_weights).is_file():
            raise TrainingSetupError(
                f"face_id_weights: {config.face_id_weights} is not a file. Give the path of InsightFace_Pytorch's "
                "model_mobilefacenet.pth."
            )
        return config
    if not config.allow_no_face_id:
        raise TrainingSetupError(
            f"The Face-ID loss has weight {config.loss.face_id} but no MobileFaceNet weights were given. Pass "
            "--face-id-weights model_mobilefacenet.pth (InsightFace_Pytorch), or train without the term: "
            "--set loss.face_id=0, or --no-face-id-ok to turn it off with a warning."
        )
    logger.warning(
        "\n%s\nFACE-ID LOSS OFF: loss.face_id is %s but no face_id_weights were given (--no-face-id-ok).\n"
        "The generator is not pushed to keep the person's identity; results will differ from the reference.\n%s",
        "=" * 78,
        config.loss.face_id,
        "=" * 78,
    )
    return dataclasses.replace(config, loss=dataclasses.replace(config.loss, face_id=0.0))


def _data_root(config, run_dir):
    if config.data.synthetic:
        root = run_dir / "synthetic-data"
        if not strategies.is_chief():
            # The same files as the chief's (they depend on the seed only), in a folder of this process:
            # only the chief writes into the run folder.
            root = Path(tempfile.mkdtemp(prefix=f"p2c-synthetic-{strategies.worker_suffix()}-"))
            atexit.register(shutil.rmtree, root, ignore_errors=True)
        seed = config.data.seed or 0
        return write_synthetic_dataset(
            root, config.data.synthetic_images, config.logging.sample_images, config.data.load_size, seed
        )
    if not config.data.root:
        raise TrainingSetupError(
            "No training data: set data.root in the config or pass --data-root DIR (a folder with trainA/ "
            "photos and trainB/ cartoons), or use data.synthetic: true for a smoke run."
        )
    root = Path(config.data.root)
    missing = [name for name in ("trainA", "trainB") if not (root / name).is_dir()]
    if missing:
        raise TrainingSetupError(
            f"data.root {root}: no {' or '.join(missing)} folder. Expected trainA/ (photos) and trainB/ (cartoons)."
        )
    return root


def _check_run_folder(config, run_dir, backup_dir):
    """Refuses to resume another model's backup; warns about other changes since the folder's last run."""
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return
    try:
        previous = load_config(saved)
    except ValueError as error:
        logger.warning("Could not read the run folder's previous config (%s); overwriting it.", error)
        return
    changed = config_differences(previous, config)
    if not changed:
        return
    if has_backup(backup_dir):
        # The backup stores networks of the old shapes and an epoch count in units of the old period.
        blocking = [key for key in changed if key.startswith("model.") or key == "logging.checkpoint_every"]
        if blocking:
            raise TrainingSetupError(
                f"{run_dir} holds a backup that cannot resume with this config ({', '.join(blocking)} changed "
                f"since {saved}). Use another --output-dir, or delete its backup/ folder to start over."
            )
    logger.warning("%s: config changed since the folder's last run: %s", saved, ", ".join(changed))


def _backed_up_step(backup_dir, steps_per_epoch):
    return backed_up_epoch(backup_dir) * steps_per_epoch


def _resume_note(initial_step, iterations):
    if initial_step >= iterations:
        return f"; already finished (backup at step {initial_step:,}): nothing to train"
    return f"; resuming at step {initial_step:,}" if initial_step else ""


def _training_data(config, root, strategy):
    """A plain dataset of global batches: `fit` distributes it itself (see `train_dataset`).

    Several workers each run the whole pipeline and keep every n-th element, so their streams must be the
    same element for element: the same seed, and parallel decoding that keeps the order. A seeded run keeps
    it too, so that the seed alone fixes what the run sees.
    """
    if strategies.spans_workers(strategy) and config.data.seed is None:
        raise TrainingSetupError(
            "A multi-worker run needs data.seed (e.g. --set data.seed=0), the same on every worker: each worker "
            "reads the whole data stream and keeps its share of every global batch."
        )
    return train_dataset(
        str(root),
        config.training.batch_size,
        load_size=config.data.load_size,
        img_size=config.model.img_size,
        seed=config.data.seed,
        deterministic=config.data.seed is not None,
        validate=config.data.validate,
    )


def _sample_batch(config, root, count=None, paired=True):
    """Fixed images: the first `count` of testA/ and testB/ (trainA/B when empty), in [-1, 1].

    `count` defaults to `logging.sample_images` (the TensorBoard sheets); `paired` cuts both to one length.
    """
    count = count or config.logging.sample_images
    batches = []
    for domain in ("A", "B"):
        folder = Path(root) / f"test{domain}"
        if not folder.is_dir() or not list_image_files(folder):
            folder = Path(root) / f"train{domain}"
        images = folder_dataset(str(folder), count, img_size=config.model.img_size)
        batches.append(np.asarray(next(iter(images))))
    if not paired:
        return batches[0], batches[1]
    count = min(len(batch) for batch in batches)
    return batches[0][:count], batches[1][:count]


def _learning_rate_schedule(config):
    """Both optimisers' learning rate: a float, or the reference's constant-then-linear decay."""
    o = config.optimizer
    if o.decay_start is None:
        return o.learning_rate
    return LinearDecayAfter(o.learning_rate, o.decay_start, config.training.iterations)


def _learning_rates(schedule, step):
    """The rate update `step` (1-based) used: the schedule at the `iterations` count before it."""
    rate = schedule if isinstance(schedule, float) else keras.ops.convert_to_numpy(schedule(step - 1))
    return {"generators": float(rate), "discriminators": float(rate)}


def build_gan(config, schedule=None):
    """The compiled `Photo2CartoonGAN` a config describes (build it under the strategy's scope).

    Networks from `config.model`, the Face-ID embedder from `config.face_id_weights` when the term is on, two
    `ReferenceAdam` optimisers on `schedule` (default: the config's), the loss weights, and the release's
    weights when `config.init_from` names them.
    """
    face_features = None
    if config.loss.face_id > 0:
        face_features = load_face_features(config.face_id_weights)
    if schedule is None:
        schedule = _learning_rate_schedule(config)
    gan = Photo2CartoonGAN(**dataclasses.asdict(config.model), face_features=face_features)

    def optimizer():
        o = config.optimizer
        # Under mixed_float16, `compile` wraps each in a LossScaleOptimizer.
        return ReferenceAdam(schedule, beta_1=o.beta_1, beta_2=o.beta_2, epsilon=o.epsilon, weight_decay=o.weight_decay)

    gan.compile(
        g_optimizer=optimizer(),
        d_optimizer=optimizer(),
        loss_weights=config.loss,
        steps_per_execution=config.training.steps_per_execution,
        jit_compile=config.training.jit_compile,
        run_eagerly=config.training.run_eagerly,
    )
    if config.init_from:
        if not Path(config.init_from).is_file():
            raise TrainingSetupError(f"init_from: {config.init_from} is not a file (photo2cartoon_weights.pt).")
        load_official_gan(gan, config.init_from)
    return gan


def _exported(gan):
    return gan.genA2B


def _sample_sheets(gan, real_a, real_b):
    return translation_sheets(gan.translate(real_a, real_b))
