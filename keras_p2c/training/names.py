"""The names a training config chooses from (Keras-free, so `p2c train --help` can list them quickly)."""

# Keras dtype policies of all networks.
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# Device strategies (`keras_p2c.training.strategy.select_strategy`).
STRATEGIES = ("auto", "default", "mirrored", "multi_worker")
