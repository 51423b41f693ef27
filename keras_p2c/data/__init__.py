"""Training data: tf.data pipelines over unpaired photo (A) / cartoon (B) folders, a tiny synthetic data
set, and the preparation of a data set from portrait photos (`preparation`, `p2c prepare-dataset`).

Names are loaded on first use (PEP 562): the pipelines import TensorFlow, dataset preparation does not
(its worker processes set up TensorFlow's threads themselves before it starts).
"""

from keras_p2c.lazy import lazy_exports

_EXPORTS = {
    "keras_p2c.data.augment": ["eval_transform", "resize_bicubic", "train_transform"],
    "keras_p2c.data.decode": ["decode_rgb", "find_unreadable", "load_rgb"],
    "keras_p2c.data.files": ["IMAGE_EXTENSIONS", "domain_folder", "list_image_files"],
    "keras_p2c.data.preparation": ["PrepOptions", "prepare_dataset"],
    "keras_p2c.data.synthetic": ["write_synthetic_dataset"],
    "keras_p2c.data.throughput": ["pipeline_throughput"],
    "keras_p2c.data.unpaired": ["epoch_steps", "eval_dataset", "folder_dataset", "train_dataset"],
}
__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
