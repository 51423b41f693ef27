"""`--runtime` and `--precision`: where the generator runs, shared by `p2c cartoonize` and `p2c serve`."""

# The choices of keras_p2c.inference.runtimes, spelled here so that --help imports no Keras
# (tests/inference/test_runtimes.py checks they agree).
RUNTIME_CHOICES = ("auto", "tensorflow", "openvino", "onnxruntime")
PRECISION_CHOICES = ("auto", "float32", "bf16")


def add_runtime_arguments(parser):
    parser.add_argument(
        "--runtime",
        choices=RUNTIME_CHOICES,
        default=None,
        help="where the generator runs: auto (default, or $KERAS_P2C_RUNTIME): OpenVINO when installed, else "
        "Keras' compiled graph; tensorflow; openvino; onnxruntime (its first conversion takes minutes). "
        "Each is checked on the first face against Keras' float32 generator",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default=None,
        help="auto (default): bfloat16 where the CPU has bf16 units (AVX512_BF16/AMX) and OpenVINO's bf16 image "
        "reaches 40 dB PSNR against float32, else float32; float32; bf16 (OpenVINO only)",
    )
