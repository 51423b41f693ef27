"""JAX's persistent compilation cache for training runs: each XLA program compiled once per machine, not per run.

On the JAX backend a run starts by compiling: one small program per weight shape for Keras' initialisers,
then each network's forward and gradient programs and the optimisers' updates. Measured on a 2-core CPU
(the suite's 96-px GAN, Face-ID on): 26.5 s to build the GAN and 73.9 s to its first step; the same run
again with the cache, 5.0 s and 21.8 s (6.8 MB of programs). Resumed and repeated runs start that much
sooner. The programs go under `<keras_p2c cache>/jax-compilation/` unless JAX's own cache folder is set
already (`JAX_COMPILATION_CACHE_DIR` or `jax.config`), which is then left as it is.
"""

import os

from keras_p2c.cache import cache_dir as resolve_cache_dir

FOLDER = "jax-compilation"
# JAX caches only programs that took a second or more to compile by default; the initialisers' programs
# take ~0.15 s each, but there are ~140 of them.
MIN_COMPILE_SECONDS = 0.0


def enable_jax_compilation_cache(cache_dir=None):
    """Turns JAX's persistent compilation cache on, in `<cache>/jax-compilation/`, when Keras runs on JAX.

    Args:
        cache_dir: the keras_p2c cache folder (`None`: `$KERAS_P2C_HOME`, else `~/.cache/keras_p2c`).

    Returns:
        The cache folder in use, or `None` on another backend.
    """
    import keras

    if keras.backend.backend() != "jax":
        return None
    import jax

    if jax.config.jax_compilation_cache_dir:  # the user's own choice
        return jax.config.jax_compilation_cache_dir
    folder = resolve_cache_dir(cache_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    return str(folder)
