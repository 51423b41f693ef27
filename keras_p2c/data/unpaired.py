"""The unpaired A/B input pipelines: infinite, independently shuffled training streams, and the finite test set.

Layout of a data set root: `trainA/` (photos), `trainB/` (cartoons), `testA/`, `testB/`.
"""

import logging
import math

import numpy as np
import tensorflow as tf

from keras_p2c.data.augment import eval_transform, train_transform
from keras_p2c.data.decode import drop_unreadable, load_rgb
from keras_p2c.data.files import domain_folder, list_image_files

logger = logging.getLogger(__name__)


def train_dataset(
    root,
    global_batch_size=1,
    *,
    strategy=None,
    load_size=286,
    img_size=256,
    seed=None,
    deterministic=False,
    validate=True,
):
    """Batches of `(real_A, real_B)` for training, forever.

    A and B are two independent streams: each is shuffled (a new order every pass over its folder, so
    epochs of each domain are permutations), repeated, decoded, resized to `load_size` (bicubic), randomly
    cropped to `img_size` and flipped with probability 0.5 (crop and flip drawn per image), scaled to [-1, 1];
    then they are zipped. The reference draws A and B the same way, independently, one of each per step.

    Files that cannot be decoded are dropped beforehand with a warning naming each (`validate=True`); a file
    that fails later (e.g. changed on disk) is skipped with TensorFlow's logged warning instead of ending the run.

    Args:
        root: data set root holding `trainA/` and `trainB/`.
        global_batch_size: images of each domain per step, over all replicas.
        strategy: `None` for a plain `tf.data.Dataset` of global batches; this is what `model.fit` takes, also
            under `strategy.scope()` (Keras splits the batches itself). With a `tf.distribute.Strategy`, a
            `DistributedDataset` built per input pipeline (files sharded by pipeline, each with its own seeds)
            whose per-replica batches are `global_batch_size / num_replicas`, for a custom loop with
            `strategy.run`, or for `fit` with several workers: the plain dataset is then sharded by element,
            so every worker decodes every image and keeps its share.
        load_size: side the images are resized to before cropping (the reference's 286).
        img_size: side of the random crop (the reference's 256).
        seed: non-negative integer making the order, crops and flips reproducible (each new iteration of the
            dataset draws a new order and new crops, the same for the same seed); `None` draws a seed.
        deterministic: keep element order when mapping in parallel (slower; for tests and debugging).
        validate: decode every file once up front to find the unreadable ones. Without it, unreadable files
            are only skipped as they come, and a folder where no file decodes leaves the pipeline waiting forever.

    Returns:
        A dataset of `(real_A, real_B)`, each `(batch, img_size, img_size, 3)` float32 in [-1, 1].
    """
    _check_sizes(global_batch_size, load_size, img_size)
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise ValueError(f"`seed` must be a non-negative integer or None. Received: seed={seed!r}")
    files_a = _readable_files(domain_folder(root, "train", "A"), validate)
    files_b = _readable_files(domain_folder(root, "train", "B"), validate)
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        logger.info("Training data seed: %d", seed)
    build = dict(load_size=load_size, img_size=img_size, seed=seed, deterministic=deterministic)

    if strategy is None:
        dataset = _zipped_streams(files_a, files_b, global_batch_size, pipeline_id=0, **build)
        options = tf.data.Options()
        # Input is a list of file names, not files tf.data can shard by; shard elements if Keras distributes.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return dataset.with_options(options)

    def dataset_fn(context):
        batch_size = context.get_per_replica_batch_size(global_batch_size)
        shard_a = _shard(files_a, context)
        shard_b = _shard(files_b, context)
        return _zipped_streams(shard_a, shard_b, batch_size, pipeline_id=context.input_pipeline_id, **build)

    return strategy.distribute_datasets_from_function(dataset_fn)


def eval_dataset(root, batch_size=1, *, img_size=256, validate=True):
    """Batches of `(real_A, real_B)` from `testA/` and `testB/`: resized, not augmented, finite, in file order.

    Pairs image i of `testA/` with image i of `testB/` and stops at the shorter folder; use `folder_dataset`
    for every image of one folder.

    Returns:
        A dataset of `(real_A, real_B)`, each `(batch, img_size, img_size, 3)` float32 in [-1, 1] (the last
        batch may be smaller).
    """
    _check_sizes(batch_size, img_size, img_size)
    a = _resized_images(domain_folder(root, "test", "A"), img_size, validate)
    b = _resized_images(domain_folder(root, "test", "B"), img_size, validate)
    return tf.data.Dataset.zip((a, b)).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def folder_dataset(folder, batch_size=1, *, img_size=256, validate=True):
    """Every image of `folder` in sorted order, resized to `img_size` (bicubic) and scaled to [-1, 1].

    Returns:
        A finite dataset of `(batch, img_size, img_size, 3)` float32 batches (the last may be smaller).
    """
    _check_sizes(batch_size, img_size, img_size)
    images = _resized_images(folder, img_size, validate)
    return images.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def epoch_steps(root, global_batch_size=1):
    """Steps in one epoch as PaddleGAN counts it: max(|trainA|, |trainB|) images, in global batches."""
    counts = [len(list_image_files(domain_folder(root, "train", domain))) for domain in ("A", "B")]
    return math.ceil(max(counts) / global_batch_size)


def _zipped_streams(files_a, files_b, batch_size, *, load_size, img_size, seed, deterministic, pipeline_id):
    seeds = np.random.SeedSequence([seed, pipeline_id]).generate_state(4) >> 1
    stream_a = _augmented_stream(files_a, int(seeds[0]), int(seeds[1]), load_size, img_size, deterministic)
    stream_b = _augmented_stream(files_b, int(seeds[2]), int(seeds[3]), load_size, img_size, deterministic)
    dataset = tf.data.Dataset.zip((stream_a, stream_b))
    # The streams are infinite, so every batch is full and its static shape is known.
    return dataset.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def _augmented_stream(files, shuffle_seed, augment_seed, load_size, img_size, deterministic):
    paths = tf.data.Dataset.from_tensor_slices(files)
    paths = paths.shuffle(len(files), seed=shuffle_seed, reshuffle_each_iteration=True).repeat()
    images = _decoded(paths, deterministic)
    # One random number per image drawn seeds its crop and flip (stateless ops): reproducible whatever the
    # parallelism, different for every draw of the same file, and new on every iteration of the dataset.
    draws = tf.data.Dataset.random(seed=augment_seed, rerandomize_each_iteration=True)

    def augment(image, draw):
        return train_transform(image, load_size, img_size, tf.stack([draw, tf.constant(augment_seed, tf.int64)]))

    dataset = tf.data.Dataset.zip((images, draws))
    return dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)


def _decoded(paths, deterministic):
    """Decoded images; a file failing to decode is skipped (TensorFlow logs a warning), the run goes on.

    Only the decoding is guarded: an error in the transforms is a bug and must surface, not be skipped
    element after element of an infinite stream (which would hang the input pipeline).
    """
    images = paths.map(load_rgb, num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
    return images.ignore_errors(log_warning=True)


def _resized_images(folder, img_size, validate):
    files = _readable_files(folder, validate)
    images = _decoded(tf.data.Dataset.from_tensor_slices(files), deterministic=True)
    return images.map(lambda image: eval_transform(image, img_size), num_parallel_calls=tf.data.AUTOTUNE)


def _readable_files(folder, validate):
    files = list_image_files(folder)
    return drop_unreadable(files, folder) if validate else files


def _shard(files, context):
    if context.num_input_pipelines == 1:
        return files
    if len(files) < context.num_input_pipelines:
        # Too few files to split; the pipelines still differ through their seeds.
        return files
    return files[context.input_pipeline_id :: context.num_input_pipelines]


def _check_sizes(batch_size, load_size, img_size):
    for name, value in (("batch size", batch_size), ("load_size", load_size), ("img_size", img_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"The {name} must be a positive integer. Received: {value!r}")
    if img_size > load_size:
        raise ValueError(
            f"`img_size` (the crop) cannot exceed `load_size` (the resized image). Received: {load_size=}, {img_size=}"
        )
