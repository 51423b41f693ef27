"""Input-pipeline throughput alone: decode, resize 286 (bicubic), random crop 256, flip, batch."""

import tempfile

from keras_p2c.data.synthetic import write_synthetic_dataset
from keras_p2c.data.throughput import pipeline_throughput
from keras_p2c.data.unpaired import train_dataset


def run(batch=1, size=256, repeats=3, n_images=50, **_unused):
    load_size = round(size * 286 / 256)  # the reference's 286 → 256 ratio
    with tempfile.TemporaryDirectory() as root:
        write_synthetic_dataset(root, n_train=n_images, n_test=1, size=load_size + 14)
        dataset = train_dataset(root, batch, load_size=load_size, img_size=size, seed=0)
        rates = [pipeline_throughput(dataset, n_batches=max(20, 200 // batch)) for _ in range(repeats)]
    return {
        "figure": "input_pipeline",
        "batch": batch,
        "size": size,
        "load_size": load_size,
        "images_per_s_all": rates,
        "images_per_s": max(rates),
        "pairs_per_s": max(rates) / 2,
    }
