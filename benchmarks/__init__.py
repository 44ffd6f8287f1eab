"""Benchmarks: throughput, latency, scaling and memory, measured side by side (make bench)."""
