"""Benchmarks of orderbell's console fan-out against reference servers (see docs/performance.md)."""
