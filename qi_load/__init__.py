"""qi-load: Locust-based distributed load and performance benchmarks for AI agent services."""

__all__ = ["__version__"]

__version__ = "0.1.0"
