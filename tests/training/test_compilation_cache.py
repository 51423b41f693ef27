"""JAX's persistent compilation cache, which `train` turns on under the JAX backend."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from keras_p2c.training.compilation_cache import FOLDER, enable_jax_compilation_cache

REPOSITORY = Path(__file__).resolve().parents[2]

ON_JAX = """
import json, sys
import jax, jax.numpy as jnp
from keras_p2c.training.compilation_cache import enable_jax_compilation_cache

folder = enable_jax_compilation_cache()
jax.jit(lambda x: jnp.sin(x) * 2)(jnp.ones(3)).block_until_ready()   # compiles in well under a second
jax.config.update("jax_compilation_cache_dir", sys.argv[1])           # as a user would set it
kept = enable_jax_compilation_cache()
print(json.dumps({"folder": folder, "kept": kept}))
"""


def test_nothing_changes_on_tensorflow(tmp_path):
    assert enable_jax_compilation_cache(tmp_path) is None
    assert not (tmp_path / FOLDER).exists()


def test_on_jax_every_program_is_cached_under_the_cache_folder_unless_jax_has_one(tmp_path):
    pytest.importorskip("jax")
    home, users = tmp_path / "home", tmp_path / "users"
    env = dict(os.environ, KERAS_BACKEND="jax", KERAS_P2C_HOME=str(home), PYTHONPATH=str(REPOSITORY))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    env.pop("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", None)
    done = subprocess.run(
        [sys.executable, "-c", ON_JAX, str(users)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report == {"folder": str(home / FOLDER), "kept": str(users)}
    # The small program was written (JAX's default keeps only those that took a second to compile).
    assert any((home / FOLDER).iterdir())
