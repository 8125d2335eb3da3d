"""Benchmarks: offline quality on real data, and (with the service) load and publish speed."""
