"""Startup and toolchain benchmarks."""
