"""tf.data input pipelines for unpaired photo (A) / cartoon (B) folders, and a tiny synthetic data set."""

from keras_p2c.data.augment import eval_transform, resize_bicubic, train_transform
from keras_p2c.data.decode import decode_rgb, find_unreadable, load_rgb
from keras_p2c.data.files import IMAGE_EXTENSIONS, domain_folder, list_image_files
from keras_p2c.data.synthetic import write_synthetic_dataset
from keras_p2c.data.throughput import pipeline_throughput
from keras_p2c.data.unpaired import epoch_steps, eval_dataset, folder_dataset, train_dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "decode_rgb",
    "domain_folder",
    "epoch_steps",
    "find_unreadable",
    "folder_dataset",
    "list_image_files",
    "load_rgb",
    "pipeline_throughput",
    "resize_bicubic",
    "eval_dataset",
    "eval_transform",
    "train_dataset",
    "train_transform",
    "write_synthetic_dataset",
]
