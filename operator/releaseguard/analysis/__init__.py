"""Judges and verdict aggregation: pure numpy, no Kubernetes or HTTP, time passed in."""
