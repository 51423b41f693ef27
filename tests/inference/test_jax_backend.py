"""The photo → cartoon path under `KERAS_BACKEND=jax` (in a subprocess: the backend is fixed per process).

mtcnn post-processes its networks' outputs with TensorFlow; `get_detector` bridges them when Keras runs
on JAX. The predictor must give the TensorFlow backend's faces and cartoons.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

JAX_RUN = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    from skimage.data import astronaut
    from keras_p2c import Photo2Cartoon

    predictor = Photo2Cartoon(weights=sys.argv[1], segmenter=None)
    result = predictor.cartoonize(astronaut())
    np.save(sys.argv[2], result.cartoons[0])
    print(json.dumps({"backend": keras.backend.backend(), "box": [float(v) for v in result.faces[0].face.box]}))
    """
)


@pytest.mark.slow  # a second process importing JAX, mtcnn and the generator: about a minute
def test_the_predictor_gives_the_same_cartoon_on_jax(astronaut, small_generator, tmp_path):
    pytest.importorskip("jax")
    from keras_p2c import Photo2Cartoon

    weights = tmp_path / "generator.keras"
    small_generator.save(weights)
    expected = Photo2Cartoon(weights=small_generator, segmenter=None).cartoonize(astronaut)

    environment = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    completed = subprocess.run(
        [sys.executable, "-c", JAX_RUN, str(weights), str(tmp_path / "cartoon.npy")],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    np.testing.assert_allclose(report["box"], expected.faces[0].face.box, atol=0.05)
    cartoon = np.load(tmp_path / "cartoon.npy")
    assert np.abs(cartoon.astype(int) - expected.cartoons[0].astype(int)).max() <= 1  # float round-off, truncated
