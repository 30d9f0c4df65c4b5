"""Daylight: DORA metrics for every Kubernetes workload, read-only."""

__version__ = "0.1.0"
