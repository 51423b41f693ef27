import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from keras_p2c.data.synthetic import write_synthetic_dataset
from keras_p2c.data.unpaired import epoch_steps, eval_dataset, folder_dataset, train_dataset
from tests.helpers.images import constant_image, ramp_image, write_png

SIZES = dict(load_size=72, img_size=64)


def _file_indices(batch):
    """Which of the indexed_root files each image of a batch came from (grey level 10 + 40·i)."""
    levels = np.round(batch.numpy() * 127.5 + 127.5)
    assert (levels == levels[:, :1, :1, :1]).all(), "constant images must stay constant"
    return ((levels[:, 0, 0, 0] - 10) / 40).astype(int).tolist()


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("synthetic"), n_train=4, n_test=3, size=80)


def test_batches_have_the_right_shape_dtype_and_range(synthetic_root):
    dataset = train_dataset(synthetic_root, 3, seed=0, **SIZES)
    assert dataset.element_spec[0].shape == (3, 64, 64, 3)
    for real_a, real_b in dataset.take(2):
        for images in (real_a, real_b):
            assert images.shape == (3, 64, 64, 3) and images.dtype == tf.float32
            assert -1.0 <= images.numpy().min() < images.numpy().max() <= 1.0


def test_streams_are_shuffled_epochs_drawn_independently(indexed_root):
    real_a, real_b = next(iter(train_dataset(indexed_root, 12, seed=3, deterministic=True, **SIZES)))
    order_a, order_b = _file_indices(real_a), _file_indices(real_b)
    for order in (order_a, order_b):
        # Each pass over a folder is a permutation of its files, and the passes are reshuffled.
        assert sorted(order[:6]) == sorted(order[6:]) == list(range(6))
        assert order[:6] != order[6:]
    assert order_a != list(range(12)) and order_a != order_b


def test_same_seed_same_stream_other_seed_other_stream(indexed_root):
    def first_batch(seed):
        real_a, real_b = next(iter(train_dataset(indexed_root, 6, seed=seed, deterministic=True, **SIZES)))
        return _file_indices(real_a) + _file_indices(real_b)

    assert first_batch(7) == first_batch(7)
    assert first_batch(7) != first_batch(8)


def _crop_and_flip(image, source):
    """(top, left, flipped) of an output made from the ramp image, checked pixel for pixel."""
    pixels = np.round(image * 127.5 + 127.5).astype(np.uint8)
    flipped = pixels[0, 0, 0] > pixels[0, -1, 0]
    top, left = pixels[0, 0, 1] // 3, (pixels[0, -1, 0] if flipped else pixels[0, 0, 0]) // 3
    crop = source[top : top + 64, left : left + 64]
    np.testing.assert_array_equal(pixels, crop[:, ::-1] if flipped else crop)
    return int(top), int(left), bool(flipped)


def test_crop_and_flip_are_drawn_per_image_and_per_pass(tmp_path):
    source = ramp_image(72)
    write_png(tmp_path / "trainA" / "ramp.png", source)
    write_png(tmp_path / "trainB" / "ramp.png", source)
    dataset = train_dataset(tmp_path, 8, seed=0, **SIZES)
    passes = []
    for _ in range(2):
        real_a, real_b = next(iter(dataset))
        passes.append([_crop_and_flip(image, source) for image in np.concatenate([real_a, real_b])])
    draws = passes[0] + passes[1]
    assert len(set(passes[0][:8])) > 1 and len(set(passes[0][8:])) > 1  # within a batch, A and B
    assert {flipped for _, _, flipped in draws} == {True, False}
    assert passes[0] != passes[1]  # a new iteration draws new crops


def test_any_channel_layout_gives_rgb(tmp_path):
    gray = np.full((72, 72, 1), 90, np.uint8)
    write_png(tmp_path / "trainA" / "gray.png", gray)
    write_png(tmp_path / "trainA" / "rgba.png", np.concatenate([constant_image(90), np.zeros_like(gray)], -1))
    write_png(tmp_path / "trainA" / "deep.png", np.full((72, 72, 3), 90 * 256 + 200, np.uint16))
    write_png(tmp_path / "trainB" / "gray.png", gray)
    real_a, real_b = next(iter(train_dataset(tmp_path, 6, seed=0, **SIZES)))
    expected = (90 - 127.5) / 127.5
    np.testing.assert_allclose(real_a.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(real_b.numpy(), expected, atol=1e-6)


@pytest.mark.parametrize("validate", [True, False])
def test_corrupt_file_is_skipped_with_a_warning(indexed_root, caplog, validate):
    (indexed_root / "trainA" / "03_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    with caplog.at_level(logging.WARNING):
        dataset = train_dataset(indexed_root, 14, seed=1, validate=validate, **SIZES)
        real_a, _ = next(iter(dataset))
    # The 6 good files come round again and again; nothing of the corrupt one gets through.
    assert sorted(set(_file_indices(real_a))) == list(range(6))
    if validate:
        assert "03_corrupt.png" in caplog.text


def test_folder_of_only_corrupt_files_is_an_error(indexed_root):
    for path in (indexed_root / "trainB").iterdir():
        path.write_bytes(b"broken")
    with pytest.raises(ValueError, match="trainB"):
        train_dataset(indexed_root, 1, **SIZES)


def test_missing_domain_folder_is_named(tmp_path):
    write_png(tmp_path / "trainA" / "a.png", constant_image(1))
    with pytest.raises(FileNotFoundError, match="trainB"):
        train_dataset(tmp_path, 1, **SIZES)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(load_size=64, img_size=72), "img_size"),
        (dict(load_size=0, img_size=0), "load_size"),
        (dict(seed=-1), "seed"),
    ],
)
def test_bad_arguments_are_named(indexed_root, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_dataset(indexed_root, 1, **kwargs)


def test_eval_dataset_is_finite_resized_and_in_file_order(indexed_root):
    (indexed_root / "testB" / "05.png").unlink()  # 6 A, 5 B: pairs stop at the shorter folder
    batches = list(eval_dataset(indexed_root, 2, img_size=16))
    assert [a.shape[0] for a, _ in batches] == [2, 2, 1]
    assert batches[0][0].shape == (2, 16, 16, 3)
    order_a = sum((_file_indices(a) for a, _ in batches), [])
    assert order_a == sum((_file_indices(b) for _, b in batches), []) == list(range(5))
    all_a = list(folder_dataset(indexed_root / "testA", 4, img_size=16))
    assert [batch.shape[0] for batch in all_a] == [4, 2]


def test_epoch_steps_counts_the_larger_domain(indexed_root):
    write_png(indexed_root / "trainB" / "06.png", constant_image(3))
    assert epoch_steps(indexed_root, 1) == 7 and epoch_steps(indexed_root, 2) == 4


def test_distributed_path_per_replica_batches(synthetic_root):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    dataset = train_dataset(synthetic_root, 4, strategy=strategy, seed=0, **SIZES)
    real_a, real_b = next(iter(dataset))
    assert real_a.shape == real_b.shape == (4, 64, 64, 3)
    # strategy.run consumes it like a training step would.
    means = strategy.run(lambda a, b: tf.reduce_mean(a) + tf.reduce_mean(b), args=(real_a, real_b))
    assert np.isfinite(strategy.reduce("SUM", means, axis=None).numpy())


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from keras_p2c.data import train_dataset
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    distributed = train_dataset(sys.argv[1], 6, strategy=strategy, seed=0, load_size=72, img_size=64)
    real_a, real_b = next(iter(distributed))
    print("per-replica", [tuple(t.shape) for t in strategy.experimental_local_results(real_a)])
    plain = train_dataset(sys.argv[1], 6, seed=0, load_size=72, img_size=64)
    real_a, _ = next(iter(strategy.experimental_distribute_dataset(plain)))
    print("split", [tuple(t.shape) for t in strategy.experimental_local_results(real_a)])
    """
)


def test_mirrored_strategy_splits_the_global_batch(synthetic_root):
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(synthetic_root)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "per-replica [(3, 64, 64, 3), (3, 64, 64, 3)]" in result.stdout
    assert "split [(3, 64, 64, 3), (3, 64, 64, 3)]" in result.stdout
