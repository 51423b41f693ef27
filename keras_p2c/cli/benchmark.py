"""`p2c benchmark --what WORKLOAD`: one JSON per run under benchmarks/results/ (figure, machine, versions, min/median).

    p2c benchmark --what generator [--batch 1] [--precision float32|bf16|fp16] [--xla]
    p2c benchmark --what train --backend jax --batch 16 --precision bf16     # also: python scripts/benchmark.py ...

The workloads are the modules of `keras_p2c.benchmarks`; each `run(...)` returns a dict of figures.
"""

import importlib
import json
import sys

WORKLOADS = {
    "generator": "keras_p2c.benchmarks.generator",
    "data": "keras_p2c.benchmarks.data",
    "pipeline": "keras_p2c.benchmarks.pipeline",
    "serve": "keras_p2c.benchmarks.serve",
    "train": "keras_p2c.benchmarks.train",
    "train_parts": "keras_p2c.benchmarks.train_parts",
    "runtimes": "keras_p2c.benchmarks.runtimes",
    "roofline": "keras_p2c.benchmarks.roofline",
    "landmarks": "keras_p2c.benchmarks.landmarks",  # crop distances, not times (needs the [landmarks] extra)
    "peers": "keras_p2c.benchmarks.peers",  # every CPU runtime against the reference's (torch, onnxruntime)
}


def add_arguments(parser):
    parser.add_argument("--what", choices=sorted(WORKLOADS) + ["all"], default="generator")
    parser.add_argument("--backend", choices=["tensorflow", "jax", "torch"], help="sets KERAS_BACKEND for this run")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--precision", choices=["float32", "bf16", "fp16"], default="float32")
    parser.add_argument("--xla", action="store_true", help="jit_compile=True (TensorFlow backend)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--output-dir", default="benchmarks/results")
    parser.add_argument(
        "--only", help="--what peers: the runtimes to measure, comma-separated (the others are reported as skipped)"
    )


def run(args):
    from keras_p2c.benchmarks.timing import load_average, machine_record, write_result

    names = sorted(WORKLOADS) if args.what == "all" else [args.what]
    if getattr(args, "only", None) and names != ["peers"]:
        print("p2c benchmark: --only is for --what peers", file=sys.stderr)
        return 2
    for name in names:
        module = importlib.import_module(WORKLOADS[name])
        load_at_start = load_average()
        options = {"only": args.only.split(",")} if getattr(args, "only", None) else {}
        result = module.run(
            batch=args.batch, size=args.size, precision=args.precision, repeats=args.repeats, jit_compile=args.xla,
            **options,
        )  # fmt: skip
        result["machine"] = machine_record(load_at_start)
        path = write_result(result, args.output_dir, name)
        # Per-repeat times and per-photo records stay in the file only.
        summary = {k: v for k, v in result.items() if k not in ("machine", "all_s", "photos")}
        print(json.dumps(summary), f"-> {path}")
    return 0
