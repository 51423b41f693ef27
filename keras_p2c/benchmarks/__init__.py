"""Benchmarks behind `scripts/benchmark.py`: each module measures one workload and returns a dict."""
